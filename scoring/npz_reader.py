"""`.npz` submissions: arrays `example_id` [N] (str) and `embedding` [N, D], or [N, T, D] frame-level.

Untrusted: opened with allow_pickle=False, and the zip directory and every array's .npy header are
checked before any array is inflated or read into memory:
- shapes and dtypes (rank, float embedding, string ids, row counts, dimensions under --max-dims): every
  problem of `problems.shape_problems`, from the headers alone;
- the declared shape x item size must fit in the bytes the zip directory declares for that member (so a
  forged header cannot make numpy allocate more than the file holds) and, in all, under --max-bytes;
- a compressed member (np.savez_compressed) may declare at most MAX_RATIO times its compressed size.
  Deflate cannot pack more than ~1032:1, which a zip bomb of zeros reaches; float embeddings pack
  ~1.1:1 (Gaussian float32 or float16), ~7:1 with 90% ReLU zeros, ~60:1 with 99% zeros, string ids
  6-22:1, ~155:1 when one id is much longer than the rest (measured with zlib, benchmarks/RESULTS.md). So a compressed submission takes at most
  MAX_RATIO x its file size in memory; a genuine file of mostly equal values is accepted uncompressed
  (np.savez), whose declared sizes are backed by bytes in the file.
"""

import math
import zipfile

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.scoring.problems import MAX_RATIO, InvalidSubmission, Problem, Raw, shape_problems

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


def _ratio_problems(path, members: dict, archive_bytes: int) -> list[Problem]:
  problems = []
  if sum(members[name].compress_size for name in ARRAYS) > archive_bytes:
    problems.append(Problem("truncated", f"the zip directory declares more compressed bytes than the file's "
                                         f"{archive_bytes}: the file is truncated or forged; write it again"))
  for name in ARRAYS:
    info = members[name]
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_RATIO * max(info.compress_size, 1):
      problems.append(Problem("compression_ratio", f"array {name!r} declares {info.file_size:,} bytes packed into "
                                                   f"{info.compress_size:,} (over {MAX_RATIO}:1, as a zip bomb does; "
                                                   "model embeddings pack under 100:1). If the file is genuine, save it "
                                                   "uncompressed with np.savez"))
  return problems


def read(path, max_bytes: int, max_dims: int) -> Raw:
  path = epath.Path(path)
  try:
    with path.open("rb") as f, zipfile.ZipFile(f) as archive:
      members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
      missing = [name for name in ARRAYS if name not in members]
      if missing:
        raise InvalidSubmission(path, [Problem("missing_array", f"missing array {name!r}; it holds "
                                                f"{sorted(members) or 'no arrays'}; {FIX}") for name in missing])
      problems = _ratio_problems(path, members, path.stat().length)
      if problems:  # headers are not even inflated
        raise InvalidSubmission(path, problems)
      headers = {name: _header(archive, members[name]) for name in ARRAYS}
  except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, NotImplementedError) as error:
    raise UserError(f"{path}: not a readable .npz file ({error}); {FIX}") from error
  except (ValueError, SyntaxError) as error:
    raise UserError(f"{path}: an array header is unreadable ({error}); {FIX}") from error

  for name, (shape, dtype) in headers.items():
    if dtype.hasobject:
      raise InvalidSubmission(path, [Problem(
          "pickled", f"array {name!r} holds Python objects (dtype {dtype}), which are never loaded (pickles can "
                     f"run code); {FIX}")])
  (ids_shape, ids_dtype), (shape, dtype) = headers["example_id"], headers["embedding"]
  problems = shape_problems(ids_shape, ids_dtype, shape, dtype, max_dims)
  total = 0
  for name, (shape, dtype) in headers.items():
    size = math.prod(shape) * dtype.itemsize  # Python ints: a forged shape cannot overflow to a small size
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
  except (EOFError, ValueError, zipfile.BadZipFile) as error:
    raise UserError(f"{path}: the file is truncated or corrupt ({error}); {FIX}") from error
  return Raw(ids, embedding)
