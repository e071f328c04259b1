"""Reads zip and tar archives member by member, local or gs://, without extracting them to disk.

Member names are normalised as TFDS's own `iter_archive` does (os.path.normpath; names starting with '.'
or ending with '~' are left out), so a reader sees exactly the members TFDS's builders see.
"""

import functools
import os
import tarfile
import zipfile
from collections.abc import Iterator

from etils import epath

from nossbench import UserError


class ArchiveError(UserError):
  """An archive that cannot be read; a builder treats it like an undecodable file (bad-audio policy)."""

  def __init__(self, path, error):
    self.path, self.reason = str(path), f"not a readable archive ({error})"
    super().__init__(f"{path}: {self.reason}; download it again.")


def normalise(name: str) -> str | None:
  """The member name TFDS uses, or None for members TFDS leaves out (hidden, backups, absolute)."""
  name = os.path.normpath(name)
  if name.startswith(".") or os.path.isabs(name) or name.endswith("~") or os.path.basename(name).startswith("."):
    return None
  return name


@functools.lru_cache(maxsize=8)
def _open_zip(path: str) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
  """One open ZipFile per archive and process: its central directory is read once, members on demand."""
  try:
    archive = zipfile.ZipFile(epath.Path(path).open("rb"))
  except (OSError, zipfile.BadZipFile) as error:
    raise ArchiveError(path, error) from error
  members = {}
  for info in archive.infolist():
    name = None if info.is_dir() else normalise(info.filename)
    if name:
      members[name] = info
  return archive, members


# A forked decode worker must not share the parent's open archives: their file offsets are shared too.
os.register_at_fork(after_in_child=_open_zip.cache_clear)


def zip_names(path) -> list[str]:
  """Sorted normalised names of the files in a zip archive."""
  return sorted(_open_zip(os.fspath(path))[1])


def read_zip_member(path, name: str) -> bytes:
  archive, members = _open_zip(os.fspath(path))
  return archive.read(members[name])


def iter_tar(path, wanted=lambda name: True) -> Iterator[tuple[str, bytes | None]]:
  """Yields (normalised name, bytes) of every regular file in a tar/tar.gz, streaming in archive order.

  Members for which `wanted(name)` is false come with None instead of their bytes.
  """
  with epath.Path(path).open("rb") as stream:
    try:
      with tarfile.open(fileobj=stream, mode="r|*") as archive:
        for member in archive:
          name = normalise(member.name) if member.isfile() else None
          if name:
            yield name, archive.extractfile(member).read() if wanted(name) else None
    except (tarfile.TarError, EOFError, OSError) as error:
      raise ArchiveError(path, error) from error
