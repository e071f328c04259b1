"""ESC-50: `ESC-50-master/audio/<fold>-<src>-<take>-<target>.wav` (5 s, 44.1 kHz mono) and
`meta/esc50.csv` (`filename,fold,target,category,esc10,src_file,take`), 2,000 clips in 5 official folds.

The folds keep clips cut from one Freesound recording together, so the canonical split follows them:
folds 1-3 train, 4 validation, 5 test; every example keeps its `fold` for 5-fold cross-validation.
"""

import dataclasses

from etils import epath

from nossbench import UserError
from nossbench.builders.sources import SPLITS, Clip, csv_records, inside

LABELS = (  # indexed by the csv's `target`
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "rain", "sea_waves", "crackling_fire", "crickets", "chirping_birds", "water_drops", "wind",
    "pouring_water", "toilet_flush", "thunderstorm",
    "crying_baby", "sneezing", "clapping", "breathing", "coughing", "footsteps", "laughing",
    "brushing_teeth", "snoring", "drinking_sipping",
    "door_wood_knock", "mouse_click", "keyboard_typing", "door_wood_creaks", "can_opening",
    "washing_machine", "vacuum_cleaner", "clock_alarm", "clock_tick", "glass_breaking",
    "helicopter", "chainsaw", "siren", "car_horn", "engine", "train", "church_bells", "airplane",
    "fireworks", "hand_saw")
FOLD_SPLITS = {1: "train", 2: "train", 3: "train", 4: "validation", 5: "test"}

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
ESC-50: download https://github.com/karolpiczak/ESC-50/archive/master.zip, unzip it and pass the folder
holding ESC-50-master/ (or ESC-50-master/ itself) as --manual_dir, so that
`ESC-50-master/meta/esc50.csv` and `ESC-50-master/audio/1-100032-A-0.wav` exist (2,000 wav files, 600 MB)."""


@dataclasses.dataclass(frozen=True)
class FoldClip(Clip):
  fold: int  # official fold, 1-5


def find_root(manual_dir) -> epath.Path:
  """The folder holding meta/esc50.csv: manual_dir itself or its ESC-50-master/."""
  manual_dir = epath.Path(manual_dir)
  for root in (manual_dir / "ESC-50-master", manual_dir):
    if (root / "meta" / "esc50.csv").exists():
      return root
  raise UserError(f"ESC-50: no meta/esc50.csv under {manual_dir}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")


def list_splits(manual_dir) -> tuple[dict[str, list[FoldClip]], dict]:
  """Reads meta/esc50.csv; returns clips per split (folds 1-3/4/5) and notes for the dataset metadata."""
  root = find_root(manual_dir)
  meta = root / "meta" / "esc50.csv"
  splits = {name: [] for name in SPLITS}
  for line, row in csv_records(meta, "ESC-50", ("filename", "fold", "target", "category")):
    try:
      fold, target, name = int(row["fold"]), int(row["target"]), row["filename"]
    except (TypeError, ValueError) as error:
      raise UserError(f"ESC-50: {meta} line {line} lacks an integer fold or target ({error}); "
                      "restore the file from the ESC-50 archive.") from error
    if fold not in FOLD_SPLITS or not 0 <= target < len(LABELS) or row["category"] != LABELS[target]:
      raise UserError(f"ESC-50: {meta} line {line} ({name}) has fold {fold}, target {target}, category "
                      f"{row['category']!r}; expected folds 1-5 and the official target/category pairs.")
    clip = FoldClip(example_id=name.rsplit(".", 1)[0], path=str(inside(root / "audio", name, "ESC-50", f"{meta} line {line}")), label=LABELS[target],
                    speaker_id="", fold=fold)
    splits[FOLD_SPLITS[fold]].append(clip)
  if not any(splits.values()):
    raise UserError(f"ESC-50: {meta} lists no clips. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  return {name: sorted(clips, key=lambda c: c.example_id) for name, clips in splits.items()}, {
      "split_source": "official folds: 1-3 train, 4 validation, 5 test"}
