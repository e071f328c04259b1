"""NSynth: `nsynth-{train,valid,test}/examples.json` (one entry per note, keyed by `note_str`) and
`audio/<note_str>.wav` (4 s, 16 kHz mono). The official splits share no instrument between train and
valid/test.

One reader serves two tasks: `target="instrument_family"` (11 families) and `target="pitch"` (MIDI 0-127).
"""

import dataclasses
import json

from etils import epath

from nossbench import UserError
from nossbench.builders.sources import Clip, inside, read_text

FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead",
            "vocal")
PITCHES = tuple(str(p) for p in range(128))
TARGETS = {"instrument_family": FAMILIES, "pitch": PITCHES}
SPLIT_FOLDERS = {"train": "nsynth-train", "validation": "nsynth-valid", "test": "nsynth-test"}

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
NSynth: download the three json/wav archives nsynth-{train,valid,test}.jsonwav.tar.gz from
https://magenta.tensorflow.org/datasets/nsynth (http://download.magenta.tensorflow.org/datasets/nsynth/), extract
them side by side and pass their parent folder as --manual_dir, so that
`nsynth-train/examples.json` and `nsynth-train/audio/bass_synthetic_033-022-050.wav` exist."""


@dataclasses.dataclass(frozen=True)
class NoteClip(Clip):
  instrument: str  # e.g. bass_synthetic_033; the official splits keep instruments apart


def _label(entry: dict, target: str, where: str) -> str:
  value = str(entry.get("instrument_family_str" if target == "instrument_family" else "pitch"))
  if value not in TARGETS[target]:
    raise UserError(f"NSynth: {where} has {target} {value!r}, expected one of {TARGETS[target][0]} .. "
                    f"{TARGETS[target][-1]}; restore examples.json from the archive.")
  return value


def _unique_keys(pairs: list) -> dict:
  """json's object hook: a key twice in one object (json keeps the last silently) is a KeyError."""
  keys = [key for key, _ in pairs]
  if len(set(keys)) != len(keys):
    raise KeyError(next(key for key in keys if keys.count(key) > 1))
  return dict(pairs)


def list_splits(manual_dir, target: str) -> tuple[dict[str, list[NoteClip]], dict]:
  """Reads the three examples.json files; returns clips per split and notes for the dataset metadata."""
  manual_dir = epath.Path(manual_dir)
  splits = {}
  for split, folder in SPLIT_FOLDERS.items():
    index = manual_dir / folder / "examples.json"
    if not index.exists():
      raise UserError(f"NSynth: {index} is missing; all three official splits are needed. "
                      f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")
    try:
      entries = json.loads(read_text(index, "NSynth"), object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, RecursionError) as error:
      raise UserError(f"NSynth: {index} is not valid JSON ({error}); extract it again from the archive.") from error
    except KeyError as error:
      raise UserError(f"NSynth: {index} holds the key {error.args[0]!r} twice in one object; extract it again "
                      "from the archive.") from error
    if not isinstance(entries, dict):
      raise UserError(f"NSynth: {index} holds a JSON {type(entries).__name__}, not the object of notes "
                      "examples.json is; extract it again from the archive.")
    clips = []
    for note, entry in entries.items():
      where = f"{index} entry {note!r}"
      if not isinstance(entry, dict) or entry.get("note_str", note) != note or "instrument_str" not in entry:
        raise UserError(f"NSynth: {where} lacks note_str/instrument_str; restore examples.json from the archive.")
      clips.append(NoteClip(example_id=note, path=str(inside(manual_dir / folder / "audio", f"{note}.wav", "NSynth", where)),
                            label=_label(entry, target, where), speaker_id="",
                            instrument=entry["instrument_str"]))
    splits[split] = sorted(clips, key=lambda c: c.example_id)
  return splits, {"split_source": "official nsynth-train/valid/test (instrument-disjoint)"}
