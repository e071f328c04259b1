"""MagnaTagATune: `<0-f>/<artist-album-track-start-end>.mp3` (29 s clips, 16 kHz mono mp3) and
`annotations_final.csv` (tab-separated: `clip_id`, 188 tag columns of 0/1, `mp3_path`).

The usual protocol: the 50 most frequent tags, folders 0-b train, c validation, d-f test. Clips with none
of the 50 tags are kept (all-negative examples) and counted in the dataset metadata.
"""

import dataclasses

from etils import epath

from nossbench import UserError
from nossbench.builders.sources import Clip, csv_records, inside

LABELS = (  # the top-50 tags by frequency, in the order the music-tagging literature uses
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop",
    "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral")
FOLDER_SPLITS = {**{f: "train" for f in "0123456789ab"}, "c": "validation", **{f: "test" for f in "def"}}

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
MagnaTagATune: download mp3.zip.001, mp3.zip.002, mp3.zip.003 and annotations_final.csv from
https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset, join and unzip the parts
(`cat mp3.zip.* > mp3.zip && unzip mp3.zip -d mp3`) and pass the folder holding annotations_final.csv as
--manual_dir, so that `annotations_final.csv` and `mp3/0/<clip>.mp3` (or `0/<clip>.mp3`) exist. Three of the
25,863 mp3 files are known to be empty; build with the builder's skip-bad-audio option to leave them out
(they are listed in the dataset metadata)."""


@dataclasses.dataclass(frozen=True)
class TagClip(Clip):
  labels: tuple[str, ...]  # the clip's top-50 tags, in LABELS order


def _audio_root(manual_dir: epath.Path) -> epath.Path:
  for root in (manual_dir / "mp3", manual_dir):
    if (root / "0").is_dir():
      return root
  raise UserError(f"MagnaTagATune: no mp3 folders 0-f under {manual_dir} or {manual_dir / 'mp3'}. "
                  f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")


def list_splits(manual_dir) -> tuple[dict[str, list[TagClip]], dict]:
  """Reads annotations_final.csv; returns clips per split and notes for the dataset metadata."""
  manual_dir = epath.Path(manual_dir)
  table = manual_dir / "annotations_final.csv"
  if not table.exists():
    raise UserError(f"MagnaTagATune: no {table}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  audio_root = _audio_root(manual_dir)
  splits, untagged = {"train": [], "validation": [], "test": []}, 0
  for line, row in csv_records(table, "MagnaTagATune", ("clip_id", "mp3_path", *LABELS), delimiter="\t"):
    mp3_path = row["mp3_path"] or ""
    if mp3_path[:1] not in FOLDER_SPLITS or mp3_path[1:2] != "/":
      raise UserError(f"MagnaTagATune: {table} line {line} has mp3_path {mp3_path!r}, expected "
                      "'<0-f>/<name>.mp3'.")
    tags = tuple(tag for tag in LABELS if (row[tag] or "").strip() == "1")
    untagged += not tags
    splits[FOLDER_SPLITS[mp3_path[0]]].append(
        TagClip(example_id=mp3_path.rsplit(".", 1)[0], path=str(inside(audio_root, mp3_path, "MagnaTagATune", f"{table} line {line}")), label="",
                speaker_id="", labels=tags))
  return {name: sorted(clips, key=lambda c: c.example_id) for name, clips in splits.items()}, {
      "split_source": "folders 0-b train, c validation, d-f test",
      "clips_without_top50_tag": untagged}
