"""Fluent Speech Commands: `wavs/speakers/<speakerId>/<uuid>.wav` (16 kHz mono) and the official,
speaker-disjoint `data/{train,valid,test}_data.csv` (`,path,speakerId,transcription,action,object,location`).

The label is the intent, `<action>_<object>_<location>`: 31 of them, each spoken in several wordings.
"""

from etils import epath

from nossbench import UserError
from nossbench.builders.sources import Clip, csv_records, inside

LABELS = (
    "activate_lamp_none", "activate_lights_bedroom", "activate_lights_kitchen", "activate_lights_none",
    "activate_lights_washroom", "activate_music_none", "bring_juice_none", "bring_newspaper_none",
    "bring_shoes_none", "bring_socks_none", "change language_Chinese_none", "change language_English_none",
    "change language_German_none", "change language_Korean_none", "change language_none_none",
    "deactivate_lamp_none", "deactivate_lights_bedroom", "deactivate_lights_kitchen", "deactivate_lights_none",
    "deactivate_lights_washroom", "deactivate_music_none", "decrease_heat_bedroom", "decrease_heat_kitchen",
    "decrease_heat_none", "decrease_heat_washroom", "decrease_volume_none", "increase_heat_bedroom",
    "increase_heat_kitchen", "increase_heat_none", "increase_heat_washroom", "increase_volume_none")
SPLIT_FILES = {"train": "train_data.csv", "validation": "valid_data.csv", "test": "test_data.csv"}
COLUMNS = ("path", "speakerId", "action", "object", "location")

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Fluent Speech Commands: request the dataset at https://fluent.ai/fluent-speech-commands-a-dataset-for-\
spoken-language-understanding-research/ (free for academic use), extract fluent_speech_commands_dataset.tar.gz
and pass the folder holding fluent_speech_commands_dataset/ (or that folder itself) as --manual_dir, so that
`fluent_speech_commands_dataset/data/train_data.csv` and `.../wavs/speakers/<id>/<uuid>.wav` exist."""


def find_root(manual_dir) -> epath.Path:
  manual_dir = epath.Path(manual_dir)
  for root in (manual_dir / "fluent_speech_commands_dataset", manual_dir):
    if (root / "data" / SPLIT_FILES["train"]).exists():
      return root
  raise UserError(f"Fluent Speech Commands: no data/{SPLIT_FILES['train']} under {manual_dir}. "
                  f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")


def _example_id(relative_path: str) -> str:
  """`wavs/speakers/<speaker>/<uuid>.wav` -> `<speaker>/<uuid>`."""
  path = relative_path.removeprefix("wavs/speakers/")
  return path.rsplit(".", 1)[0]


def list_splits(manual_dir) -> tuple[dict[str, list[Clip]], dict]:
  """Reads the three official CSVs; returns clips per split and notes for the dataset metadata."""
  root = find_root(manual_dir)
  splits = {}
  for split, name in SPLIT_FILES.items():
    table = root / "data" / name
    if not table.exists():
      raise UserError(f"Fluent Speech Commands: {table} is missing; the official split needs all of "
                      f"{', '.join(SPLIT_FILES.values())}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
    clips = []
    for line, row in csv_records(table, "Fluent Speech Commands", COLUMNS):
      intent = f"{row['action']}_{row['object']}_{row['location']}"
      if intent not in LABELS:
        raise UserError(f"Fluent Speech Commands: {table} line {line} ({row['path']}) has intent {intent!r}, "
                        "not one of the dataset's 31; restore the file from the dataset archive.")
      clips.append(Clip(example_id=_example_id(row["path"]), path=str(inside(root, row["path"], "Fluent Speech Commands", f"{table} line {line}")), label=intent,
                        speaker_id=row["speakerId"]))
    splits[split] = sorted(clips, key=lambda c: c.example_id)
  return splits, {"split_source": "official, speaker-disjoint data/{train,valid,test}_data.csv"}
