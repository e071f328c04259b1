"""VoxForge: one `.tgz` per recording session, `<host>/downloads/<lang>/Trunk/Audio/Main/16kHz_16bit/
<user>-<YYYYMMDD>-<tag>.tgz`, each holding `<session>/wav/*.wav` (16 kHz) and `<session>/etc/`.

The language is the folder before `Trunk`, the speaker the archive name before its first `-`, the date
the eight digits after it. Archives are read member by member, never extracted. `plan` gives TFDS's
voxforge split, which noss/voxforge and hares/voxforge share.
"""

import dataclasses
import datetime
import os
import re

from absl import logging
from etils import epath

from nossbench import UserError
from nossbench.builders import archives
from nossbench.builders.items import Item
from nossbench.builders.sources import SPLITS, Plan, assign_speakers, read_text

LABELS = ("de", "en", "es", "fr", "it", "ru")
CUTOFF = datetime.date(2020, 1, 1)  # sessions from this day on are left out (TFDS describes this cut-off)
URL_LIST = "voxforge_urls.txt"
URL_LIST_SOURCE = "https://storage.googleapis.com/tfds-data/downloads/voxforge/voxforge_urls.txt"
_DATE = re.compile(r"-(\d{8})-")

MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
VoxForge: download the list of session archives that TFDS uses, {URL_LIST_SOURCE}, into --manual_dir and
fetch the archives from there with `wget -x -i {URL_LIST}` (about 100 GB), so that
`<manual_dir>/www.repository.voxforge1.org/downloads/de/Trunk/Audio/Main/16kHz_16bit/<session>.tgz` exist.
With {URL_LIST} present exactly the archives it lists are read (a listed archive that is missing is an
error unless skip_bad_audio=True); without it every `*/downloads/<lang>/Trunk/Audio/Main/16kHz_16bit/*.tgz`
under --manual_dir is read. Sessions dated {CUTOFF.isoformat()} or later are left out."""


@dataclasses.dataclass(frozen=True)
class Session:
  path: str  # the .tgz
  name: str  # its path relative to manual_dir, as in the URL list
  label: str
  speaker_id: str
  date: datetime.date | None  # None when the archive name carries no valid YYYYMMDD


def session(manual_dir, name: str) -> Session:
  parts = name.split("/")
  if "Trunk" not in parts or parts.index("Trunk") == 0 or parts[parts.index("Trunk") - 1] not in LABELS:
    raise UserError(f"VoxForge: {name} is not under <host>/downloads/<language>/Trunk/ with a language in "
                    f"{', '.join(LABELS)}. {MANUAL_DOWNLOAD_INSTRUCTIONS}")
  archive = parts[-1]
  match = _DATE.search(archive)
  try:
    date = datetime.datetime.strptime(match[1], "%Y%m%d").date() if match else None
  except ValueError:
    date = None
  return Session(path=str(epath.Path(manual_dir) / name), name=name, label=parts[parts.index("Trunk") - 1],
                 speaker_id=archive.split("-")[0], date=date)


def list_sessions(manual_dir) -> tuple[list[Session], list[str]]:
  """All sessions (before and after the cut-off), sorted by name, and the listed archives that are absent."""
  manual_dir = epath.Path(manual_dir)
  url_list = manual_dir / URL_LIST
  if url_list.exists():
    names = [line.strip().replace('"', "").replace("'", "") for line in read_text(url_list, "VoxForge").splitlines()]
    names = [re.sub(r"^[a-z]+://", "", name) for name in names if name]
    outside = [name for name in names if os.path.isabs(name) or ".." in name.split("/")]
    if outside:
      raise UserError(f"VoxForge: {url_list} names {outside[0]!r}, a path outside {manual_dir}; it is not TFDS's "
                      f"list: download {URL_LIST_SOURCE} again.")
    absent = {name for name in names if not (manual_dir / name).exists()}
    names = [name for name in names if name not in absent]
  else:
    names = [os.fspath(path.relative_to(manual_dir))
             for path in manual_dir.glob("*/downloads/*/Trunk/Audio/Main/16kHz_16bit/*.tgz")]
    absent = set()
    if not names:
      raise UserError(f"VoxForge: neither {url_list} nor session archives under {manual_dir}. "
                      f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")
  return sorted((session(manual_dir, name) for name in set(names)), key=lambda s: s.name), sorted(absent)


def plan(dl_manager, task: str) -> Plan:
  """TFDS's voxforge split: the speakers of the sessions before CUTOFF, shuffled and cut as TFDS does
  (`sources.assign_speakers`); the work units are the sessions, opened by `session_items`.

  Absent archives keep their speakers in the shuffle, so the other speakers' splits do not move.
  """
  manual_dir = dl_manager.manual_dir
  present, absent_names = list_sessions(manual_dir)
  absent = {session(manual_dir, name) for name in absent_names}
  listed = sorted(set(present) | absent, key=lambda s: s.name)
  late = {s for s in listed if s.date and s.date >= CUTOFF}
  undated = [s.name for s in listed if s.date is None]
  if undated:
    logging.warning("VoxForge: %d archive names carry no YYYYMMDD date; kept, as TFDS keeps them: %s",
                    len(undated), ", ".join(undated[:10]))
  speaker_split = assign_speakers(task, (s.speaker_id for s in listed if s not in late))
  return Plan(
      units={split: [s for s in present if s not in late and speaker_split[s.speaker_id] == split]
             for split in SPLITS},
      to_items=session_items,
      absent={split: sorted(s.name for s in absent - late if speaker_split[s.speaker_id] == split)
              for split in SPLITS},
      # sessions dated on or after CUTOFF, left out; names without a YYYYMMDD date, kept (as TFDS keeps them)
      metadata={"voxforge_after_cutoff": sorted(s.name for s in late), "voxforge_undated": undated})


def session_items(session_: Session):
  """The session's wav files as Items (read from the archive in one pass)."""
  stem = os.path.basename(session_.name).removesuffix(".tgz")
  for member, data in archives.iter_tar(session_.path, wanted=lambda name: name.lower().endswith(".wav")):
    if data is not None:
      wav = os.path.basename(member)[:-len(".wav")]
      yield Item(f"{session_.label}/{stem}/{wav}", session_.path,
                            {"label": session_.label, "speaker_id": session_.speaker_id}, member=member, data=data)
