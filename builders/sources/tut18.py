"""TUT Urban Acoustic Scenes 2018, development set (DCASE2018 task 1A):
`audio/<scene>-<city>-<location>-<segment>-<device>.wav` (10 s, 48 kHz stereo 24-bit), `meta.csv`
(tab-separated: filename, scene_label, identifier, source_label) and
`evaluation_setup/fold1_{train,evaluate}.txt` (tab-separated `audio/<file>.wav<TAB><scene>`, no header).

The evaluation set's labels are not public, so HARES uses splits cut from the development set. This
reader gives the fallback: official fold1 (location-disjoint) with fold1_evaluate as test, and a
validation split carved out of fold1_train by whole recording locations (`identifier`, e.g.
`barcelona-0`): a location goes to validation when `location_fraction(identifier) < 0.1`, a number that
depends on the identifier alone (sha256), so train, validation and test share no location.
"""

import dataclasses

from etils import epath

from nossbench import UserError, hashing
from nossbench.builders.sources import SPLITS, Clip, csv_records, csv_rows, inside

LABELS = ("airport", "bus", "metro", "metro_station", "park", "public_square", "shopping_mall",
          "street_pedestrian", "street_traffic", "tram")
VALIDATION_FRACTION = 0.1
FALLBACK = ("official fold1 (location-disjoint): fold1_evaluate as test; the whole locations of fold1_train "
            f"whose stable_unit('tut18', identifier) (from the sha256 of 'tut18/<identifier>') is below "
            f"{VALIDATION_FRACTION} as validation, the rest train")

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
TUT Urban Acoustic Scenes 2018 (development): download TUT-urban-acoustic-scenes-2018-development.meta.zip
and .audio.1.zip ... .audio.13.zip from https://zenodo.org/record/1228142, unzip them into one folder and
pass it (or its parent) as --manual_dir, so that `TUT-urban-acoustic-scenes-2018-development/meta.csv`,
`.../evaluation_setup/fold1_train.txt` and `.../audio/airport-barcelona-0-0-a.wav` exist. To use the HARES
split lists of Tagliasacchi et al., also put them in `<manual_dir>/hares_splits/{train,validation,test}.txt`:
one clip per line, or a table (tab, comma, semicolon or space separated; e.g. the layout of
evaluation_setup/fold1_*.txt) whose first field names the clip by example id or file name."""


@dataclasses.dataclass(frozen=True)
class SceneClip(Clip):
  location: str  # recording location, `<city>-<n>`: no location is in two splits


def find_root(manual_dir) -> epath.Path:
  manual_dir = epath.Path(manual_dir)
  for root in (manual_dir / "TUT-urban-acoustic-scenes-2018-development", manual_dir):
    if (root / "meta.csv").exists():
      return root
  raise UserError(f"TUT18: no meta.csv under {manual_dir}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")


def location_fraction(identifier: str) -> float:
  """A number in [0, 1) fixed by the location identifier alone (not by Python's salted hash())."""
  return hashing.stable_unit("tut18", identifier)


def _read_fold(path: epath.Path) -> list[str]:
  if not path.exists():
    raise UserError(f"TUT18: {path} is missing; the fallback split is the official fold1. "
                    f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")
  names = {}
  for line, row in csv_rows(path, "TUT18", delimiter="\t"):
    name = row[0].strip()
    if name in names:
      raise UserError(f"TUT18: {path} names {name} twice (lines {names[name]} and {line}); download it again.")
    names[name] = line
  return list(names)


def list_clips(manual_dir) -> list[SceneClip]:
  """Every clip of meta.csv, sorted by example id (the file name without folder and extension)."""
  root = find_root(manual_dir)
  meta = root / "meta.csv"
  clips = []
  for line, row in csv_records(meta, "TUT18", ("filename", "scene_label", "identifier"), delimiter="\t"):
    if row["scene_label"] not in LABELS or not row["filename"] or not row["identifier"]:
      raise UserError(f"TUT18: {meta} line {line} ({row['filename']}) has scene {row['scene_label']!r} and "
                      f"identifier {row['identifier']!r}; expected a file name, one of {', '.join(LABELS)} and a "
                      "location identifier.")
    name = row["filename"].rsplit("/", 1)[-1]
    clips.append(SceneClip(example_id=name.rsplit(".", 1)[0], path=str(inside(root, row["filename"], "TUT18", f"{meta} line {line}")),
                           label=row["scene_label"], speaker_id="", location=row["identifier"]))
  if not clips:
    raise UserError(f"TUT18: {meta} lists no clips. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  return sorted(clips, key=lambda c: c.example_id)


def list_splits(manual_dir) -> tuple[dict[str, list[SceneClip]], dict]:
  """The fallback split (see the module docstring); returns clips per split and notes for the metadata."""
  root = find_root(manual_dir)
  clips = {c.example_id: c for c in list_clips(root)}
  assigned = {}
  for part, split in (("train", "train"), ("evaluate", "test")):
    path = root / "evaluation_setup" / f"fold1_{part}.txt"
    for name in _read_fold(path):
      example_id = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
      if example_id not in clips:
        raise UserError(f"TUT18: {path} names {name}, which meta.csv does not list; restore both from the "
                        "same download.")
      in_validation = split == "train" and location_fraction(clips[example_id].location) < VALIDATION_FRACTION
      assigned[example_id] = "validation" if in_validation else split
  unassigned = sorted(set(clips) - set(assigned))
  splits = {name: [clips[i] for i in sorted(assigned) if assigned[i] == name]
            for name in SPLITS}
  return splits, {"split_source": f"fallback: {FALLBACK}", "not_in_fold1": unassigned}
