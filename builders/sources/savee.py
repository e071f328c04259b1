"""SAVEE: `AudioData.zip` holding `AudioData/<speaker>/<code><NN>.wav`, 4 male speakers (DC, JE, JK, KL),
44.1 kHz. The emotion is the letter code before the number: a d f h n sa su.
"""

import re

from etils import epath

from nossbench import UserError
from nossbench.builders import archives
from nossbench.builders.sources import MemberClip

CODES = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness",
         "su": "surprise"}
LABELS = tuple(CODES.values())  # TFDS's savee order
_NAME = re.compile(r"^AudioData/(?P<speaker>[^/]+)/(?P<code>[a-zA-Z]+)(?P<number>[^/]*)\.wav$", re.IGNORECASE)

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
SAVEE: register at http://personal.ee.surrey.ac.uk/Personal/P.Jackson/SAVEE/Register.html, download the
dataset and put its Data/Zip/AudioData.zip (480 wav files, 44.1 kHz) directly in --manual_dir, so that
`<manual_dir>/AudioData.zip` exists. The archive is read as it is; do not unzip it."""


def list_clips(manual_dir) -> list[MemberClip]:
  """Every `AudioData/<speaker>/<name>.wav` in the zip, as TFDS's glob `AudioData/*/*.wav` finds them."""
  path = epath.Path(manual_dir) / "AudioData.zip"
  if not path.exists():
    raise UserError(f"SAVEE: no {path}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  clips = []
  for name in archives.zip_names(path):
    match = _NAME.match(name)
    if not match:
      continue  # e.g. the archive's Info.txt
    if match["code"].lower() not in CODES:
      raise UserError(f"SAVEE: {path}:{name} does not start with an emotion code ({', '.join(CODES)}); "
                      "remove it from the archive or use the original AudioData.zip.")
    clips.append(MemberClip(example_id=f"{match['speaker']}/{match['code']}{match['number']}", path=str(path),
                            label=CODES[match["code"].lower()], speaker_id=match["speaker"], member=name))
  if not clips:
    raise UserError(f"SAVEE: {path} holds no AudioData/<speaker>/<name>.wav files. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  return sorted(clips, key=lambda clip: clip.example_id)
