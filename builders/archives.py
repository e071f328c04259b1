"""Reads zip and tar archives member by member, local or gs://, without extracting them to disk.

Member names are normalised as TFDS's own `iter_archive` does (os.path.normpath; names starting with '.'
or ending with '~' are left out), so a reader sees exactly the members TFDS's builders see.

An archive is refused (ArchiveError, naming it and the member) when it cannot be read (truncated, not an
archive behind its extension), when a member's name escapes the archive's folder (absolute, or `..`),
when a member is a symbolic or hard link or a device, when two members share a name, and when a member
declares more than the caller's size limit (checked before it is inflated, so a zip bomb costs nothing).
"""

import functools
import gzip
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator

from etils import epath

from nossbench import UserError
from nossbench.builders import audio

READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error, NotImplementedError,
               RuntimeError)  # RuntimeError: an encrypted zip member


class ArchiveError(UserError):
  """An archive that cannot be read; a builder treats it like an undecodable file (bad-audio policy)."""

  def __init__(self, path, error, member: str | None = None):
    where = f"member {member!r}: " if member else ""
    self.path, self.reason = str(path), f"not a readable archive ({where}{error})"
    super().__init__(f"{path}: {self.reason}; download it again.")


def normalise(name: str, archive=None) -> str | None:
  """The member name TFDS uses, or None for members TFDS leaves out (hidden, backups).

  A name that escapes the archive's folder is an ArchiveError naming `archive`.
  """
  normal = os.path.normpath(name)
  if os.path.isabs(normal) or normal == ".." or normal.startswith("../") or "\\..\\" in f"\\{name}\\":
    raise ArchiveError(archive, "its name points outside the archive's folder", name)
  if normal.startswith(".") or normal.endswith("~") or os.path.basename(normal).startswith("."):
    return None
  return normal


def _zip_kind(info: zipfile.ZipInfo) -> str | None:
  """None for a regular file; else what else the member is (Unix mode bits in its external attributes)."""
  mode = info.external_attr >> 16
  if not stat.S_IFMT(mode) or stat.S_ISREG(mode):  # writers that set no file type write regular files
    return None
  return "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"


@functools.lru_cache(maxsize=8)
def _open_zip(path: str) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
  """One open ZipFile per archive and process: its central directory is read once, members on demand."""
  try:
    archive = zipfile.ZipFile(epath.Path(path).open("rb"))
  except READ_ERRORS as error:
    raise ArchiveError(path, error) from error
  members = {}
  for info in archive.infolist():
    name = None if info.is_dir() else normalise(info.filename, path)
    if not name:
      continue
    kind = _zip_kind(info)
    if kind:
      raise ArchiveError(path, f"it is {kind}; archives of the datasets hold regular files only", info.filename)
    if name in members:
      raise ArchiveError(path, "the archive holds two members of this name", info.filename)
    members[name] = info
  return archive, members


# A forked decode worker must not share the parent's open archives: their file offsets are shared too.
os.register_at_fork(after_in_child=_open_zip.cache_clear)


def zip_names(path) -> list[str]:
  """Sorted normalised names of the files in a zip archive."""
  return sorted(_open_zip(os.fspath(path))[1])


def read_zip_member(path, name: str, limit: int) -> bytes:
  """The member's bytes; an ArchiveError when it declares more than `limit` bytes or cannot be read."""
  archive, members = _open_zip(os.fspath(path))
  info = members[name]
  if info.file_size > limit:
    raise ArchiveError(path, f"declares {info.file_size} bytes, over the limit of {limit}", name)
  try:
    return archive.read(info)
  except READ_ERRORS as error:
    raise ArchiveError(path, error, name) from error


def iter_tar(path, wanted=lambda name: True, limit: int = audio.MAX_FILE_BYTES) -> Iterator[tuple[str, bytes | None]]:
  """Yields (normalised name, bytes) of every regular file in a tar/tar.gz, streaming in archive order.

  Members for which `wanted(name)` is false come with None instead of their bytes; a wanted member over
  `limit` bytes is an ArchiveError.
  """
  seen = set()
  with epath.Path(path).open("rb") as stream:
    try:
      gzipped = stream.read(2) == b"\x1f\x8b"
      stream.seek(0)
      # gzip's reader, unlike tarfile's own stream, checks the end-of-stream marker: a cut-short .tar.gz fails.
      source = gzip.GzipFile(fileobj=stream) if gzipped else stream
      with tarfile.open(fileobj=source, mode="r|" if gzipped else "r|*") as archive:
        for member in archive:
          if member.isdir():
            continue
          name = normalise(member.name, path)
          if name and not member.isfile():
            raise ArchiveError(path, "it is a link or device; archives of the datasets hold regular files only",
                               member.name)
          if not name:
            continue
          if name in seen:
            raise ArchiveError(path, "the archive holds two members of this name", member.name)
          seen.add(name)
          if wanted(name) and member.size > limit:
            raise ArchiveError(path, f"declares {member.size} bytes, over the limit of {limit}", member.name)
          yield name, archive.extractfile(member).read() if wanted(name) else None
        while source.read(1 << 20):  # the rest of the stream: a cut-short .tar.gz fails here
          pass
    except READ_ERRORS as error:
      raise ArchiveError(path, error) from error
