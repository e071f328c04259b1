"""VoxCeleb1: `vox1_dev_wav.zip` (older copies: `vox_dev_wav.zip`) and `vox1_test_wav.zip` holding
`wav/<speaker id>/<YouTube id>/<n>.wav` (16 kHz), with `iden_split.txt` (`<1|2|3> <speaker>/<video>/<n>.wav`:
train, validation, test of the identification task, every speaker in every split) and `veri_test.txt`
(`<1|0> <enrol wav> <test wav>`: the verification trials, all between test-archive speakers).

Both archives are read; TFDS's own builder opens only the dev archive, so the files of the 40 test-archive
speakers that iden_split.txt lists vanish from its splits.
"""

import dataclasses

from absl import logging
from etils import epath

from nossbench import UserError
from nossbench.builders import archives
from nossbench.builders.sources import MemberClip, Plan, read_text

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
  trials: list[tuple[int, str, str]]  # every line of veri_test.txt: (target, enrol wav, test wav)
  unbuilt: dict[str, str]  # wav named by a trial -> why it is not built (not in the archives or iden_split.txt)


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
  for number, line in enumerate(read_text(path, "VoxCeleb1").splitlines(), start=1):
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
    if wav in listed:
      raise UserError(f"VoxCeleb1: iden_split.txt line {number} lists {wav} a second time; download the list "
                      "again.")
    listed.add(wav)
    if wav not in where:
      absent[SPLITS[group]].append(wav)
      continue
    archive, member = where[wav]
    splits[SPLITS[group]].append(VoxClip(example_id=example_id(wav), path=archive, label=parts[0],
                                         speaker_id=parts[0], member=member, youtube_id=parts[1]))
  trials, unbuilt = [], {}
  for target, enrol, test in _lines(manual_dir / "veri_test.txt", 3):
    if target not in ("0", "1"):
      raise UserError(f"VoxCeleb1: veri_test.txt has a trial with target {target!r}, expected 0 or 1.")
    trials.append((int(target), enrol, test))
    for wav in (enrol, test):
      if wav not in where:
        unbuilt[wav] = "in neither archive"
      elif wav not in listed:
        unbuilt[wav] = "not in iden_split.txt, so not built"
  return VoxCeleb(splits={name: sorted(clips, key=lambda c: c.example_id) for name, clips in splits.items()},
                  absent=absent, unlisted=sorted(set(where) - listed), trials=trials, unbuilt=unbuilt)


@dataclasses.dataclass
class VoxCelebPlan(Plan):
  """The plan, plus what noss/voxceleb's verification trials are made of (see `verification_trials`)."""
  trials: list[tuple[int, str, str]] = dataclasses.field(default_factory=list)
  unbuilt: dict[str, str] = dataclasses.field(default_factory=dict)


def plan(dl_manager, task: str) -> VoxCelebPlan:
  """iden_split.txt's splits of both archives; files in the archives it does not list are not built, and
  recorded (metadata `voxceleb_unlisted`)."""
  data = read(dl_manager.manual_dir)
  if data.unlisted:
    logging.warning("%s: %d files in the archives are not in iden_split.txt and are not built: %s", task,
                    len(data.unlisted), ", ".join(data.unlisted[:10]))
  return VoxCelebPlan(clips=data.splits, absent=data.absent, metadata={"voxceleb_unlisted": data.unlisted},
                      trials=data.trials, unbuilt=data.unbuilt)


def verification_trials(trials: list[tuple[int, str, str]], unbuilt: dict[str, str],
                        skipped: dict[str, str]) -> dict[str, list]:
  """The metadata `verification_trials`, [target, enrol example id, test example id] for every trial whose
  two files were built, and `verification_trials_dropped`, [veri_test.txt line, reason] for the others
  (a file `unbuilt`, or `skipped` as undecodable: {example id: reason}), both in veri_test.txt's order."""
  kept, dropped = [], []
  for target, enrol, test in trials:
    reasons = []
    for wav in (enrol, test):
      if wav in unbuilt:
        reasons.append(f"{wav} {unbuilt[wav]}")
      elif example_id(wav) in skipped:
        reasons.append(f"{wav} undecodable, skipped ({skipped[example_id(wav)]})")
    if reasons:
      dropped.append([f"{target} {enrol} {test}", "; ".join(reasons)])
    else:
      kept.append([target, example_id(enrol), example_id(test)])
  if dropped:
    logging.warning("VoxCeleb1: %d of %d verification trials of veri_test.txt dropped, their files not built "
                    "(metadata verification_trials_dropped), e.g. %s: %s", len(dropped), len(trials), *dropped[0])
  return {"verification_trials": kept, "verification_trials_dropped": dropped}
