"""Birdsong: the three development sets of the DCASE2018 bird audio detection task (35,690 10-s clips,
44.1 kHz mono wav): freefield1010 (7,690), warblr (8,000) and BirdVox-DCASE-20k (20,000). Each has a CSV
`itemid,datasetid,hasbird` (ff1010bird_metadata_2018.csv, warblrb10k_public_metadata_2018.csv,
BirdVoxDCASE20k_csvpublic.csv) and a folder of `<itemid>.wav`.

The challenge's evaluation labels are not public. The fallback split used here when the HARES lists
(Tagliasacchi et al.) are not supplied: every clip goes by a number in [0, 1) computed from its example
id alone (`hashing.stable_unit("birdsong", id)`, from sha256): below 0.8 train, below 0.9
validation, else test.
A clip's split never depends on which other clips exist.
"""

import dataclasses

from etils import epath

from nossbench import UserError, hashing
from nossbench.builders.sources import Clip, csv_records, walk

LABELS = ("no_bird", "bird")  # indexed by `hasbird`
CSV_FILES = ("ff1010bird_metadata_2018.csv", "warblrb10k_public_metadata_2018.csv",
             "BirdVoxDCASE20k_csvpublic.csv")
FRACTIONS = (("train", 0.8), ("validation", 0.1), ("test", 0.1))
FALLBACK = ("every clip by stable_unit('birdsong', example_id), a number in [0, 1) from the sha256 of "
            "'birdsong/<example_id>': below 0.8 train, below 0.9 validation, else test")

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Birdsong (DCASE2018 bird audio detection, development data): from
https://dcase.community/challenge2018/task-bird-audio-detection download ff1010bird_wav.zip,
warblrb10k_public_wav.zip, BirdVox-DCASE-20k.zip and the three label files ff1010bird_metadata_2018.csv,
warblrb10k_public_metadata_2018.csv and BirdVoxDCASE20k_csvpublic.csv. Put the CSVs in one folder, unzip the
archives anywhere below it (e.g. ff1010bird_wav/wav/<itemid>.wav; one shared wav/ folder works too) and pass
that folder as --manual_dir. To use the HARES split lists of Tagliasacchi et al., also put them in
`<manual_dir>/hares_splits/{train,validation,test}.txt`: one clip per line, or a table (tab, comma,
semicolon or space separated) whose first field names the clip by example id or file name."""


@dataclasses.dataclass(frozen=True)
class BirdClip(Clip):
  source: str  # the development set: ff1010bird, warblrb10k or BirdVox-DCASE-20k


def fallback_split(example_id: str) -> str:
  fraction, cumulative = hashing.stable_unit("birdsong", example_id), 0.0
  for name, share in FRACTIONS:
    cumulative += share
    if fraction < cumulative:
      return name
  return FRACTIONS[-1][0]


def _index_wavs(manual_dir: epath.Path) -> dict[str, epath.Path]:
  """Every .wav below manual_dir by file stem; a stem found twice is an error naming both files."""
  found = {}
  for folder, files in walk(manual_dir, "Birdsong"):
    for name in files:
      if name.lower().endswith(".wav"):
        stem = name.rsplit(".", 1)[0]
        if stem in found:
          raise UserError(f"Birdsong: two files for item {stem}: {found[stem]} and {folder / name}; keep one "
                          "(each development set unzipped once).")
        found[stem] = epath.Path(folder) / name
  return found


def list_clips(manual_dir) -> tuple[list[BirdClip], list[str]]:
  """Every clip the three CSVs list whose wav exists, sorted by id, and the ids of those whose wav is absent."""
  manual_dir = epath.Path(manual_dir)
  tables = [manual_dir / name for name in CSV_FILES]
  absent = [t.name for t in tables if not t.exists()]
  if absent:
    raise UserError(f"Birdsong: {', '.join(absent)} not found in {manual_dir}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  wavs = _index_wavs(manual_dir)
  clips, missing = [], []
  for table in tables:
    for line, row in csv_records(table, "Birdsong", ("itemid", "datasetid", "hasbird")):
      example_id = f"{row['datasetid']}/{row['itemid']}"
      if row["hasbird"] not in ("0", "1"):
        raise UserError(f"Birdsong: {table} line {line} ({example_id}) has hasbird={row['hasbird']!r}, "
                        "expected 0 or 1.")
      if row["itemid"] not in wavs:
        missing.append(example_id)
        continue
      clips.append(BirdClip(example_id=example_id, path=str(wavs[row["itemid"]]),
                            label=LABELS[int(row["hasbird"])], speaker_id="", source=row["datasetid"]))
  return sorted(clips, key=lambda c: c.example_id), sorted(missing)


def list_splits(manual_dir) -> tuple[dict[str, list[BirdClip]], dict]:
  """The fallback split (see the module docstring); returns clips per split and notes: `absent` holds,
  per split, the ids of listed clips whose wav is not in the download."""
  clips, missing = list_clips(manual_dir)
  splits = {name: [c for c in clips if fallback_split(c.example_id) == name] for name, _ in FRACTIONS}
  absent = {name: [i for i in missing if fallback_split(i) == name] for name, _ in FRACTIONS}
  return splits, {"split_source": f"fallback: {FALLBACK}", "absent": absent}
