"""`.npz` submissions: arrays `example_id` [N] (str) and `embedding` [N, D], or [N, T, D] frame-level.

Untrusted: opened with allow_pickle=False, and every array's .npy header is read first. Its declared
shape x item size must fit both in the bytes the zip directory declares for that member (so a forged
header cannot make numpy allocate more than the file holds) and under the size limit, before any array
is read into memory. Compressed archives (np.savez_compressed) are checked on their unpacked size.
"""

import zipfile

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.scoring.problems import InvalidSubmission, Problem, Raw

ARRAYS = ("example_id", "embedding")
FIX = ("save it with np.savez(path, example_id=np.array(ids, dtype=str), "
       "embedding=np.asarray(vectors, dtype=np.float32))")


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple, np.dtype]:
  with archive.open(info) as member:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
      shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
      shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
      raise ValueError(f".npy format version {version} is not read here (1.0 and 2.0 are)")
  return shape, dtype


def read(path, max_bytes: int) -> Raw:
  path = epath.Path(path)
  try:
    with path.open("rb") as f, zipfile.ZipFile(f) as archive:
      members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
      missing = [name for name in ARRAYS if name not in members]
      if missing:
        raise InvalidSubmission(path, [Problem("missing_array", f"missing array {name!r}; it holds "
                                                f"{sorted(members) or 'no arrays'}; {FIX}") for name in missing])
      headers = {name: _header(archive, members[name]) for name in ARRAYS}
  except (zipfile.BadZipFile, EOFError) as error:
    raise UserError(f"{path}: not a readable .npz file ({error}); {FIX}") from error
  except ValueError as error:
    raise UserError(f"{path}: an array header is unreadable ({error}); {FIX}") from error

  problems, total = [], 0
  for name, (shape, dtype) in headers.items():
    if dtype.hasobject:
      problems.append(Problem("pickled", f"array {name!r} holds Python objects (dtype {dtype}), which are "
                                         f"never loaded (pickles can run code); {FIX}"))
      continue
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    total += size
    if size > members[name].file_size:
      problems.append(Problem("truncated", f"array {name!r} declares shape {shape} ({size} bytes) but the "
                                           f"archive holds {members[name].file_size} bytes for it: the file is "
                                           f"truncated or forged; write it again"))
  if problems:
    raise InvalidSubmission(path, problems)
  if total > max_bytes:
    raise UserError(f"{path}: its arrays take {total / 2**30:.2f} GiB unpacked, over the "
                    f"{max_bytes / 2**30:.2f} GiB limit (raise it with --max-bytes if that is expected)")
  try:
    with path.open("rb") as f, np.load(f, allow_pickle=False) as data:
      ids, embedding = data["example_id"], data["embedding"]
  except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
    raise UserError(f"{path}: the file is truncated or corrupt ({error}); {FIX}") from error
  return Raw(ids, embedding)
