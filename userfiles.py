"""Reads a file a user handed us (a metadata table, a list, a manifest) whole, or refuses it in one sentence.

Shared by `builders` and `splits`, which do not import each other. A folder or a dangling link where a
file should be, an unreadable file, a file over `limit` bytes (checked before reading, so memory stays
bounded), a pipe or device (reading it could block forever) and, for text, bytes that are not UTF-8 (a binary behind a .csv name) are UserErrors naming the
file, and the line of the first bad byte, followed by `fix`.
"""

import os
import stat

from etils import epath

from nossbench import UserError


def read_bytes(path, limit: int, fix: str) -> bytes:
  path = epath.Path(path)
  try:
    if path.is_dir():
      raise UserError(f"{path} is a folder where a file is expected; {fix}.")
    if "://" not in os.fspath(path) and not stat.S_ISREG(os.stat(path).st_mode):  # a pipe would block reading
      raise UserError(f"{path} is not a regular file (a pipe, socket or device); {fix}.")
    size = path.stat().length
    if size > limit:
      raise UserError(f"{path} has {size} bytes, more than the {limit} such a file can have; {fix}.")
    return path.read_bytes()
  except OSError as error:
    raise UserError(f"cannot read {path} ({error.strerror or error}): check that it exists, is a file and is "
                    f"readable; {fix}.") from error


def read_text(path, limit: int, fix: str) -> str:
  """UTF-8 text (a byte-order mark is dropped)."""
  data = read_bytes(path, limit, fix)
  try:
    return data.decode("utf-8-sig")
  except UnicodeDecodeError as error:
    line = data[:error.start].count(b"\n") + 1
    raise UserError(f"{path} is not UTF-8 text (line {line}, byte {error.start}: {error.reason}): it is damaged "
                    f"or another kind of file under this name; {fix}.") from error
