"""DementiaBank (Pitt corpus, cookie-theft description): `dementia/English/Pitt/{Control,Dementia}/cookie/
<participant>-<visit>.mp3`, 44.1 kHz mp3. Label from the folder, speaker from the participant number.
"""

from etils import epath

from nossbench import UserError
from nossbench.builders.sources import Clip, files_in

LABELS = ("dementia", "control")  # TFDS's dementiabank order
FOLDERS = {"Control": "control", "Dementia": "dementia"}
PITT = "dementia/English/Pitt"

MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
DementiaBank: request access at https://dementia.talkbank.org/ (registration with TalkBank), then download
the Pitt corpus media from https://media.talkbank.org/dementia/English/Pitt/ keeping its folders, so that
`<manual_dir>/{PITT}/Control/cookie/*.mp3` and `<manual_dir>/{PITT}/Dementia/cookie/*.mp3` exist (552
mp3 files). Pass the folder holding `dementia/` as --manual_dir."""


def list_clips(manual_dir) -> list[Clip]:
  """Every mp3 of both cookie folders; the example id is `<Control|Dementia>/<file name without .mp3>`."""
  clips = []
  for folder, label in FOLDERS.items():
    cookie = epath.Path(manual_dir) / PITT / folder / "cookie"
    if not cookie.is_dir():
      raise UserError(f"DementiaBank: no folder {cookie}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
    for path in files_in(cookie, "DementiaBank"):
      if path.suffix.lower() != ".mp3" or path.name.startswith("."):
        continue
      if path.stem.count("-") != 1:
        raise UserError(f"DementiaBank: {path} is not named <participant>-<visit>.mp3; move it out of "
                        f"{cookie} or rename it.")
      clips.append(Clip(example_id=f"{folder}/{path.stem}", path=str(path), label=label,
                        speaker_id=path.stem.split("-")[0]))
  if not clips:
    raise UserError(f"DementiaBank: no mp3 files under {epath.Path(manual_dir) / PITT}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  return sorted(clips, key=lambda clip: clip.example_id)
