"""CREMA-D: `AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav`, 16 kHz mono, 91 actors (1001-1091)."""

import re

from etils import epath

from nossbench import UserError
from nossbench.builders.sources import Clip, files_in

LABELS = ("NEU", "HAP", "SAD", "ANG", "FEA", "DIS")  # TFDS's crema_d order
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
LEVELS = ("LO", "MD", "HI", "XX")
_NAME = re.compile(r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{2})$")

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
CREMA-D: clone https://github.com/CheyneyComputerScience/CREMA-D with git-lfs (`git lfs pull`) and pass
the clone as --manual_dir, so that `<manual_dir>/AudioWAV/1001_DFA_ANG_XX.wav` exists. The audio-only
folder AudioWAV/ (7,442 wav files, about 600 MB) is all that is read. When GitHub answers that the
repository is over its LFS budget/quota, take the same files from the maintainers' mirror,
https://gitlab.com/cs-cooper-lab/crema-d-mirror (or the GitHub release assets), keeping AudioWAV/."""


def list_clips(manual_dir) -> list[Clip]:
  """Lists every wav in AudioWAV/, sorted by example id; a file that breaks the naming scheme is an error."""
  audio_dir = epath.Path(manual_dir) / "AudioWAV"
  if not audio_dir.is_dir():
    raise UserError(f"CREMA-D: no folder {audio_dir}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  clips = []
  for path in files_in(audio_dir, "CREMA-D"):
    if path.suffix.lower() != ".wav":
      continue
    match = _NAME.match(path.stem)
    if not match or match["emotion"] not in LABELS:
      raise UserError(
          f"CREMA-D: {path} does not follow <actor>_<sentence>_<emotion>_<level>.wav with an emotion in "
          f"{', '.join(LABELS)}; move it out of AudioWAV/ or rename it.")
    clips.append(Clip(example_id=path.stem, path=str(path), label=match["emotion"],
                      speaker_id=match["actor"]))
  if not clips:
    raise UserError(f"CREMA-D: {audio_dir} holds no .wav files. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  return sorted(clips, key=lambda clip: clip.example_id)
