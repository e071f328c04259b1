"""AudioSet: the segment lists `balanced_train_segments.csv`, `unbalanced_train_segments.csv`,
`eval_segments.csv` (`# ...` comment lines, then `YTID, start_seconds, end_seconds, "mid,mid,..."`),
the vocabulary `class_labels_indices.csv` (`index,mid,display_name`, 527 classes) and the 10-s clips
the user fetched from YouTube, which are never all still online.

Splits follow the official lists: unbalanced_train -> train, balanced_train (at least 59 clips per class)
-> validation, eval -> test. Listed segments without a clip are counted and listed in the dataset
metadata, never fatal; so are audio files that match no listed segment.
"""

import dataclasses

from etils import epath

from nossbench import UserError
from nossbench.builders.sources import Clip, csv_records, csv_rows, walk

NUM_CLASSES = 527
SEGMENT_FILES = {"train": "unbalanced_train_segments.csv", "validation": "balanced_train_segments.csv",
                 "test": "eval_segments.csv"}
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm", ".aac")
YTID_LENGTH = 11

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
AudioSet: download balanced_train_segments.csv, unbalanced_train_segments.csv, eval_segments.csv and
class_labels_indices.csv from https://research.google.com/audioset/download.html into --manual_dir, and put
the 10-second segments you fetched from YouTube (e.g. with yt-dlp + ffmpeg, cut to start_seconds..end_seconds)
anywhere below `<manual_dir>/audio/`, each named after its YouTube id: `<YTID>.wav`, `Y<YTID>.wav`,
`<YTID>_<start>.flac` and `Y<YTID>_<start>_<end>.mp3` all work (any format ffmpeg reads). Segments whose clip
is absent are counted and listed in the dataset metadata (`missing`)."""


@dataclasses.dataclass(frozen=True)
class SegmentClip(Clip):
  labels: tuple[str, ...]  # positive label mids, sorted


def read_vocabulary(manual_dir) -> tuple[tuple[str, ...], tuple[str, ...]]:
  """Returns (mids, display names) in class_labels_indices.csv order, checking there are 527."""
  table = epath.Path(manual_dir) / "class_labels_indices.csv"
  if not table.exists():
    raise UserError(f"AudioSet: no {table}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  rows = [row for _, row in csv_records(table, "AudioSet", ("index", "mid", "display_name"))]
  if len(rows) != NUM_CLASSES or any(r["index"] != str(i) or not r["mid"] for i, r in enumerate(rows)):
    raise UserError(f"AudioSet: {table} must list indices 0-{NUM_CLASSES - 1} with their mids in order "
                    f"(found {len(rows)} rows); download it again.")
  return tuple(r["mid"] for r in rows), tuple(r["display_name"] for r in rows)


def read_segments(path: epath.Path, vocabulary: set[str]) -> dict[str, tuple[str, ...]]:
  """YTID -> sorted positive label mids, from one segment CSV."""
  segments = {}
  for line, row in csv_rows(path, "AudioSet", skipinitialspace=True):
    if row[0].startswith("#"):
      continue
    if len(row) != 4:
      raise UserError(f"AudioSet: {path} line {line} has {len(row)} fields, expected "
                      "YTID, start_seconds, end_seconds, \"positive_labels\".")
    ytid, labels = row[0], tuple(sorted(row[3].split(",")))
    unknown = [mid for mid in labels if mid not in vocabulary]
    if unknown:
      raise UserError(f"AudioSet: {path} line {line} ({ytid}) has label(s) {', '.join(unknown)} not in "
                      "class_labels_indices.csv; use the CSVs of one AudioSet release.")
    if ytid in segments:
      raise UserError(f"AudioSet: {path} lists {ytid} twice (line {line}).")
    segments[ytid] = labels
  return segments


def _candidate_ids(stem: str) -> list[str]:
  """YouTube ids a file stem can stand for: `<id>`, `Y<id>`, each optionally followed by `_...`."""
  candidates = []
  for offset in (0, 1) if stem.startswith("Y") else (0,):
    end = offset + YTID_LENGTH
    if len(stem) == end or (len(stem) > end and stem[end] == "_"):
      candidates.append(stem[offset:end])
  return candidates


def index_audio(audio_dir: epath.Path, segment_split: dict[str, str]) -> tuple[dict[str, epath.Path], list[str]]:
  """Maps each listed YTID to its file below audio_dir; returns it and the files that match no segment."""
  found, unmatched = {}, []
  for folder, files in walk(audio_dir, "AudioSet"):
    for name in files:
      path = epath.Path(folder) / name
      if path.suffix.lower() not in AUDIO_SUFFIXES:
        continue
      ytids = [y for y in _candidate_ids(name[:-len(path.suffix)]) if y in segment_split]
      if not ytids:
        unmatched.append(str(path.relative_to(audio_dir)))
        continue
      if ytids[0] in found:
        raise UserError(f"AudioSet: two files for segment {ytids[0]}: {found[ytids[0]]} and {path}; keep one.")
      found[ytids[0]] = path
  return found, sorted(unmatched)


def list_splits(manual_dir) -> tuple[dict[str, list[SegmentClip]], dict]:
  """Clips per split for every listed segment whose clip exists; notes list the absent and unmatched."""
  manual_dir = epath.Path(manual_dir)
  mids, _ = read_vocabulary(manual_dir)
  vocabulary = set(mids)
  segments, segment_split = {}, {}
  for split, name in SEGMENT_FILES.items():
    path = manual_dir / name
    if not path.exists():
      raise UserError(f"AudioSet: no {path}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
    segments[split] = read_segments(path, vocabulary)
    for ytid in segments[split]:
      if ytid in segment_split:
        raise UserError(f"AudioSet: {ytid} is listed in both {SEGMENT_FILES[segment_split[ytid]]} and {name}.")
      segment_split[ytid] = split
  audio_dir = manual_dir / "audio"
  if not audio_dir.is_dir():
    raise UserError(f"AudioSet: no folder {audio_dir} with the downloaded clips. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  found, unmatched = index_audio(audio_dir, segment_split)
  if not found:
    raise UserError(f"AudioSet: no file below {audio_dir} is named after a listed segment. "
                    f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")
  splits, missing = {}, {}
  for split, listed in segments.items():
    splits[split] = [SegmentClip(example_id=ytid, path=str(found[ytid]), label="", speaker_id="", labels=labels)
                     for ytid, labels in sorted(listed.items()) if ytid in found]
    missing[split] = sorted(ytid for ytid in listed if ytid not in found)
  return splits, {
      "split_source": "official: unbalanced_train -> train, balanced_train -> validation, eval -> test",
      "listed_segments": {split: len(listed) for split, listed in segments.items()},
      "missing_count": {split: len(ids) for split, ids in missing.items()},
      "missing": sorted(ytid for ids in missing.values() for ytid in ids),
      "unmatched_files": unmatched}
