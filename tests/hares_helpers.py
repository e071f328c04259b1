"""Tiny copies of the HARES datasets' real raw layouts, written at test time (tones and noise).

Each writer returns what a reader or build must reproduce: {example_id: expected facts}.
"""

import csv
import io
import json
import subprocess
import tarfile

import numpy as np
import soundfile

from conftest import tone
from nossbench.builders.sources import audioset, birdsong, esc50, fluent_speech_commands, magnatagatune, nsynth, tut18


def _write_wav(path, frequency, seconds=0.1, rate=16000, channels=1, subtype="PCM_16"):
  path.parent.mkdir(parents=True, exist_ok=True)
  samples = tone(frequency, seconds, rate)
  soundfile.write(str(path), np.stack([samples] * channels, axis=1) if channels > 1 else samples, rate,
                  subtype=subtype)


def write_esc50(root, per_fold=2):
  """ESC-50-master/ with `per_fold` clips in each of the 5 folds (44.1 kHz like the real files)."""
  base = root / "ESC-50-master"
  rows, expected = [], {}
  for fold in range(1, 6):
    for k in range(per_fold):
      target = (fold * 7 + k * 13) % len(esc50.LABELS)
      name = f"{fold}-{1000 + k}-A-{target}.wav"
      _write_wav(base / "audio" / name, 200 + 20 * target, rate=44100)
      rows.append([name, fold, target, esc50.LABELS[target], "False", str(1000 + k), "A"])
      expected[name[:-4]] = {"label": esc50.LABELS[target], "fold": fold}
  (base / "meta").mkdir(parents=True)
  with open(base / "meta" / "esc50.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
    writer.writerows(rows)
  return expected


def write_fluent_speech_commands(root):
  """fluent_speech_commands_dataset/ with 3 speakers, one per official split, 2 utterances each."""
  base = root / "fluent_speech_commands_dataset"
  (base / "data").mkdir(parents=True)
  expected = {}
  for s, (split, name) in enumerate(fluent_speech_commands.SPLIT_FILES.items()):
    speaker = f"spk{s}XyZ"
    with open(base / "data" / name, "w", newline="") as f:
      writer = csv.writer(f)
      writer.writerow(["", "path", "speakerId", "transcription", "action", "object", "location"])
      for k in range(2):
        intent = fluent_speech_commands.LABELS[(s * 5 + k * 11) % 31]
        action, obj, location = intent.split("_")
        path = f"wavs/speakers/{speaker}/{s}{k}-uuid.wav"
        _write_wav(base / path, 300 + 10 * k)
        writer.writerow([k, path, speaker, "turn it on", action, obj, location])
        expected[f"{speaker}/{s}{k}-uuid"] = {"label": intent, "speaker_id": speaker, "split": split}
  return expected


def write_nsynth(root):
  """nsynth-{train,valid,test}/ with 2 notes each; the note's pitch is the tone's MIDI pitch."""
  expected = {}
  for split, folder in nsynth.SPLIT_FOLDERS.items():
    entries = {}
    for k, (family, pitch) in enumerate([("guitar", 60 + len(split)), ("vocal", 69)]):
      instrument = f"{family}_acoustic_{len(split):03d}"
      note = f"{instrument}-{pitch:03d}-{50 + 25 * k:03d}"
      _write_wav(root / folder / "audio" / f"{note}.wav", 440 * 2 ** ((pitch - 69) / 12))
      entries[note] = {"note_str": note, "instrument_str": instrument, "instrument_family_str": family,
                       "pitch": pitch, "velocity": 50 + 25 * k, "sample_rate": 16000, "qualities": [0] * 10}
      expected[note] = {"family": family, "pitch": str(pitch), "instrument": instrument, "split": split}
    (root / folder / "examples.json").write_text(json.dumps(entries))
  return expected


def write_magnatagatune(root, folders="0bcdf"):
  """annotations_final.csv (quoted, tab-separated, 188 tags) and one short mp3 per folder letter under mp3/;
  the first clip in folder c has none of the top-50 tags."""
  other_tags = [f"tag{i}" for i in range(188 - len(magnatagatune.LABELS))]
  header = ["clip_id", *other_tags[:60], *magnatagatune.LABELS, *other_tags[60:], "mp3_path"]
  root.mkdir(parents=True, exist_ok=True)
  expected = {}
  with open(root / "annotations_final.csv", "w", newline="") as f:
    writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    for k, folder in enumerate(folders):
      mp3_path = f"{folder}/artist_{k}-album-0{k}-track-30-59.mp3"
      tags = set() if k == folders.index("c") else {magnatagatune.LABELS[k % 3], magnatagatune.LABELS[49 - k % 4]}
      row = {name: "0" for name in header}
      row.update({"clip_id": str(k), "mp3_path": mp3_path, "tag3": "1", **{t: "1" for t in tags}})
      writer.writerow([row[name] for name in header])
      wav = root / "tmp" / f"{k}.wav"
      _write_wav(wav, 300 + 50 * k, seconds=0.3)
      (root / "mp3" / folder).mkdir(parents=True, exist_ok=True)
      subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), str(root / "mp3" / mp3_path)], check=True)
      split = magnatagatune.FOLDER_SPLITS[folder]
      expected[mp3_path[:-4]] = {"labels": [t for t in magnatagatune.LABELS if t in tags], "split": split}
  return expected


def tut18_locations():
  """Two cities x locations, chosen so the fallback sends one train location to validation."""
  train = [f"barcelona-{i}" for i in range(40)]
  validation = [loc for loc in train if tut18.location_fraction(loc) < tut18.VALIDATION_FRACTION][:1]
  plain = [loc for loc in train if loc not in validation][:2]
  return plain + validation, ["helsinki-0", "helsinki-1"]


def write_tut18(root):
  """TUT-urban-acoustic-scenes-2018-development/ with 48 kHz stereo 24-bit clips and fold1 lists."""
  base = root / "TUT-urban-acoustic-scenes-2018-development"
  (base / "evaluation_setup").mkdir(parents=True)
  train_locations, test_locations = tut18_locations()
  meta, folds, expected = [], {"train": [], "evaluate": []}, {}
  for part, locations in (("train", train_locations), ("evaluate", test_locations)):
    for i, location in enumerate(locations):
      scene = tut18.LABELS[(i * 3 + len(part)) % len(tut18.LABELS)]
      city, n = location.split("-")
      for segment in range(2):
        name = f"audio/{scene}-{city}-{n}-{segment}-a.wav"
        _write_wav(base / name, 250 + 30 * i, rate=48000, channels=2, subtype="PCM_24")
        meta.append([name, scene, location, "a"])
        folds[part].append([name, scene])
        split = "test" if part == "evaluate" else (
            "validation" if tut18.location_fraction(location) < tut18.VALIDATION_FRACTION else "train")
        expected[name[6:-4]] = {"label": scene, "location": location, "split": split}
  for path, rows, header in ((base / "meta.csv", meta, ["filename", "scene_label", "identifier", "source_label"]),
                             (base / "evaluation_setup/fold1_train.txt", folds["train"], None),
                             (base / "evaluation_setup/fold1_evaluate.txt", folds["evaluate"], None)):
    with open(path, "w", newline="") as f:
      writer = csv.writer(f, delimiter="\t")
      if header:
        writer.writerow(header)
      writer.writerows(rows)
  return expected


def write_birdsong(root, per_set=4, absent=()):
  """The three CSVs and wav folders as their zips extract; ids in `absent` are listed but have no wav."""
  sources = (("ff1010bird", "ff1010bird_wav/wav", [str(64000 + k) for k in range(per_set)]),
             ("warblrb10k", "warblrb10k_public_wav/wav", [f"{k:04d}a1b2-warblr" for k in range(per_set)]),
             ("BirdVox-DCASE-20k", "BirdVox-DCASE-20k/wav", [f"{k:04d}c3d4-vox" for k in range(per_set)]))
  expected = {}
  root.mkdir(parents=True, exist_ok=True)
  for (source, folder, items), csv_name in zip(sources, birdsong.CSV_FILES):
    with open(root / csv_name, "w", newline="") as f:
      writer = csv.writer(f)
      writer.writerow(["itemid", "datasetid", "hasbird"])
      for k, item in enumerate(items):
        writer.writerow([item, source, k % 2])
        example_id = f"{source}/{item}"
        if example_id not in absent:
          _write_wav(root / folder / f"{item}.wav", 2000 + 500 * (k % 2), rate=44100)
        expected[example_id] = {"label": birdsong.LABELS[k % 2], "source": source}
  return expected


def write_audioset(root):
  """Vocabulary of 527 classes, the three segment CSVs, and clips under audio/ in several naming styles.

  Per split, one listed segment has no clip; one stray file matches no segment.
  """
  root.mkdir(parents=True, exist_ok=True)
  mids = [f"/m/{i:05d}" for i in range(audioset.NUM_CLASSES)]
  with open(root / "class_labels_indices.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["index", "mid", "display_name"])
    writer.writerows([i, mid, f"Sound, number {i}"] for i, mid in enumerate(mids))
  styles = ["{y}.wav", "Y{y}.flac", "{y}_30000.wav", "Y{y}_30.000_40.000.wav"]
  expected, missing = {}, []
  for s, (split, name) in enumerate(audioset.SEGMENT_FILES.items()):
    lines = ["# Segments csv created Sun Mar  5 10:54:31 2017", "# num_ytids=4, num_segs=4",
             "# YTID, start_seconds, end_seconds, positive_labels"]
    for k in range(4):
      ytid = f"Y{s}{k}-_abcdefg"[:11] if k == 0 else f"{s}{k}x-_abcdef"[:11]
      labels = sorted({mids[(s * 100 + k * 7) % 527], mids[(s * 50 + k) % 527]})
      lines.append(f'{ytid}, 30.000, 40.000, "{",".join(labels)}"')
      if k == 3:
        missing.append(ytid)
        continue
      path = root / "audio" / split / styles[(s + k) % len(styles)].format(y=ytid)
      _write_wav(path, 300 + 40 * k + 10 * s)
      expected[ytid] = {"labels": labels, "split": split}
    (root / name).write_text("\n".join(lines) + "\n")
  _write_wav(root / "audio" / "stray" / "not-a-segment.wav", 500)
  return expected, sorted(missing), mids


def drop_from_tar(path, member):
  """Rewrites the tar.gz at `path` without `member` (e.g. `bed/x.wav`): a listed file gone from the archive."""
  with tarfile.open(path) as source:
    kept = [(info, source.extractfile(info).read() if info.isfile() else None) for info in source.getmembers()
            if info.name.removeprefix("./") != member]
  with tarfile.open(path, "w:gz") as target:
    for info, data in kept:
      target.addfile(info, None if data is None else io.BytesIO(data))
