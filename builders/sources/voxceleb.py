"""VoxCeleb1: `vox1_dev_wav.zip` (older copies: `vox_dev_wav.zip`) and `vox1_test_wav.zip` holding
`wav/<speaker id>/<YouTube id>/<n>.wav` (16 kHz), with `iden_split.txt` (`<1|2|3> <speaker>/<video>/<n>.wav`:
train, validation, test of the identification task, every speaker in every split) and `veri_test.txt`
(`<1|0> <enrol wav> <test wav>`: the verification trials, all between test-archive speakers).

Both archives are read; TFDS's own builder opens only the dev archive, so the files of the 40 test-archive
speakers that iden_split.txt lists vanish from its splits.
"""

import dataclasses

from etils import epath

from nossbench import UserError
from nossbench.builders import archives
from nossbench.builders.sources import MemberClip

SPEAKERS = tuple(f"id{n}" for n in range(10001, 11252))  # VoxCeleb1's 1,251 speakers
ARCHIVES = {"dev": ("vox1_dev_wav.zip", "vox_dev_wav.zip"), "test": ("vox1_test_wav.zip", "vox_test_wav.zip")}
SPLITS = {"1": "train", "2": "validation", "3": "test"}
HOMEPAGE = "https://www.robots.ox.ac.uk/~vgg/data/voxceleb/vox1.html"

MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
VoxCeleb1: request the audio at {HOMEPAGE} and put in --manual_dir the dev and test archives,
vox1_dev_wav.zip (if it came in parts: `cat vox1_dev_wav_parta* > vox1_dev_wav.zip`) and vox1_test_wav.zip,
plus the two lists from the same page, iden_split.txt and veri_test.txt. The archives are read as they are
(about 40 GB); do not unzip them."""


@dataclasses.dataclass(frozen=True)
class VoxClip(MemberClip):
  youtube_id: str


@dataclasses.dataclass
class VoxCeleb:
  splits: dict[str, list[VoxClip]]  # split -> clips, sorted by example id
  absent: dict[str, list[str]]  # split -> files iden_split.txt lists that neither archive holds
  unlisted: list[str]  # files in the archives that iden_split.txt does not list (not built)
  trials: list[tuple[int, str, str]]  # (target, enrol example id, test example id) from veri_test.txt
  trials_absent: list[str]  # veri_test.txt lines naming a file that is not built


def _archive(manual_dir: epath.Path, part: str) -> epath.Path:
  for name in ARCHIVES[part]:
    if (manual_dir / name).exists():
      return manual_dir / name
  pieces = sorted(manual_dir.glob(f"vox1_{part}_wav_part*"))
  hint = (f" The parts {', '.join(p.name for p in pieces)} must be joined first: "
          f"`cat vox1_{part}_wav_part* > vox1_{part}_wav.zip`." if pieces else "")
  raise UserError(f"VoxCeleb1: no {' or '.join(ARCHIVES[part])} in {manual_dir}.{hint} {MANUAL_DOWNLOAD_INSTRUCTIONS}")


def _lines(path: epath.Path, fields: int) -> list[list[str]]:
  if not path.exists():
    raise UserError(f"VoxCeleb1: no {path}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  rows = []
  for number, line in enumerate(path.read_text().splitlines(), start=1):
    if line.strip():
      row = line.split()
      if len(row) != fields:
        raise UserError(f"VoxCeleb1: {path} line {number} has {len(row)} fields, expected {fields}: {line!r}; "
                        "download the list again.")
      rows.append(row)
  return rows


def example_id(wav: str) -> str:
  return wav.removesuffix(".wav")


def read(manual_dir) -> VoxCeleb:
  manual_dir = epath.Path(manual_dir)
  where = {}  # "<speaker>/<video>/<n>.wav" -> (archive, member)
  for part in ("dev", "test"):
    path = _archive(manual_dir, part)
    for member in archives.zip_names(path):
      if member.startswith("wav/") and member.lower().endswith(".wav"):
        where[member.removeprefix("wav/")] = (str(path), member)
  splits, absent, listed = {name: [] for name in SPLITS.values()}, {name: [] for name in SPLITS.values()}, set()
  for number, (group, wav) in enumerate(_lines(manual_dir / "iden_split.txt", 2), start=1):
    parts = wav.split("/")
    if group not in SPLITS or len(parts) != 3 or parts[0] not in SPEAKERS:
      raise UserError(f"VoxCeleb1: iden_split.txt line {number} ({group} {wav}) is not '<1|2|3> "
                      "id1xxxx/<video>/<n>.wav' with a VoxCeleb1 speaker; download the list again.")
    listed.add(wav)
    if wav not in where:
      absent[SPLITS[group]].append(wav)
      continue
    archive, member = where[wav]
    splits[SPLITS[group]].append(VoxClip(example_id=example_id(wav), path=archive, label=parts[0],
                                         speaker_id=parts[0], member=member, youtube_id=parts[1]))
  built = {wav for wav in listed if wav in where}
  trials, trials_absent = [], []
  for target, enrol, test in _lines(manual_dir / "veri_test.txt", 3):
    if target not in ("0", "1"):
      raise UserError(f"VoxCeleb1: veri_test.txt has a trial with target {target!r}, expected 0 or 1.")
    if enrol in built and test in built:
      trials.append((int(target), example_id(enrol), example_id(test)))
    else:
      trials_absent.append(f"{target} {enrol} {test}")
  return VoxCeleb(splits={name: sorted(clips, key=lambda c: c.example_id) for name, clips in splits.items()},
                  absent=absent, unlisted=sorted(set(where) - listed), trials=trials, trials_absent=trials_absent)
