"""Reading a submission file and checking it against the task's canonical manifest.

Submissions are untrusted: `.npz` files are opened with `allow_pickle=False` and their declared array
sizes are checked before anything is read into memory. Validation collects every problem, not only the
first, so a submitter can fix them all in one go.
"""

import zipfile

import numpy as np
import pandas as pd
from etils import epath

from nossbench import UserError

DEFAULT_MAX_BYTES = 16 * 2**30
EXAMPLES_SHOWN = 5


class InvalidSubmission(UserError):
  def __init__(self, path, problems: list[str]):
    self.problems = problems
    listed = "\n".join(f"  - {p}" for p in problems)
    super().__init__(f"{path} is not a valid submission ({len(problems)} problem"
                     f"{'s' if len(problems) != 1 else ''}):\n{listed}")


def _first(values) -> str:
  values = list(values)
  shown = ", ".join(repr(str(v)) for v in values[:EXAMPLES_SHOWN])
  return shown + (f", ... ({len(values)} in all)" if len(values) > EXAMPLES_SHOWN else "")


def read_npz(path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[np.ndarray, np.ndarray]:
  """Returns (example_id [N] str, embedding array) from an .npz with arrays `example_id` and `embedding`."""
  path = epath.Path(path)
  if not path.exists():
    raise UserError(f"{path}: no such submission file")
  fix = ("save it with np.savez(path, example_id=np.array(ids, dtype=str), "
         "embedding=np.asarray(vectors, dtype=np.float32))")
  try:
    with path.open("rb") as f, zipfile.ZipFile(f) as archive:
      sizes = {info.filename.removesuffix(".npy"): info.file_size for info in archive.infolist()}
  except zipfile.BadZipFile as error:
    raise UserError(f"{path}: not a readable .npz file ({error}); {fix}") from error
  problems = [f"missing array {name!r}" for name in ("example_id", "embedding") if name not in sizes]
  if problems:
    raise InvalidSubmission(path, problems + [f"it holds {sorted(sizes) or 'no arrays'}; {fix}"])
  total = sizes["example_id"] + sizes["embedding"]
  if total > max_bytes:
    raise UserError(f"{path}: its arrays take {total / 2**30:.1f} GiB unpacked, over the "
                    f"{max_bytes / 2**30:.1f} GiB limit (raise it with --max-bytes if that is expected)")
  try:
    with path.open("rb") as f, np.load(f, allow_pickle=False) as data:
      return data["example_id"], data["embedding"]
  except ValueError as error:
    if "allow_pickle" in str(error):
      raise UserError(f"{path}: holds Python objects (pickled arrays), which are never loaded; {fix}") from error
    raise UserError(f"{path}: cannot read its arrays ({error}); {fix}") from error
  except (OSError, EOFError, zipfile.BadZipFile) as error:
    raise UserError(f"{path}: the file is truncated or corrupt ({error}); {fix}") from error


def validate(path, ids: np.ndarray, embedding: np.ndarray, manifest: pd.DataFrame) -> np.ndarray:
  """Checks the arrays against the manifest's example ids; returns float32 [N, D] in manifest order."""
  problems = []
  if ids.ndim != 1:
    problems.append(f"example_id must be one-dimensional, got shape {ids.shape}")
  if ids.dtype.kind not in "US":
    problems.append(f"example_id must hold strings, got dtype {ids.dtype}")
  if embedding.dtype.kind != "f":
    problems.append(f"embedding must be floating point, got dtype {embedding.dtype}")
  if embedding.ndim != 2:
    problems.append(f"embedding must be [examples, dims], got shape {embedding.shape}")
  elif embedding.shape[1] == 0:
    problems.append("embedding has zero dimensions")
  if ids.ndim == 1 and embedding.ndim >= 1 and len(ids) != len(embedding):
    problems.append(f"{len(ids)} example ids but {len(embedding)} embedding rows")
  if len(ids) == 0:
    problems.append("the submission is empty")
  if problems:
    raise InvalidSubmission(path, problems)

  ids = ids.astype(str)
  id_series = pd.Series(ids)
  duplicated = sorted(set(id_series[id_series.duplicated()]))
  if duplicated:
    problems.append(f"{len(duplicated)} example ids appear more than once: {_first(duplicated)}")
  expected = set(manifest["example_id"])
  unknown = sorted(set(ids) - expected)
  if unknown:
    problems.append(f"{len(unknown)} example ids are not in the task: {_first(unknown)}")
  missing = sorted(expected - set(ids))
  if missing:
    problems.append(f"{len(missing)} example ids of the task are missing: {_first(missing)}")
  bad_rows = np.flatnonzero(~np.isfinite(embedding).all(axis=1))
  if len(bad_rows):
    problems.append(f"{len(bad_rows)} embeddings hold NaN or Inf: {_first(ids[bad_rows])}")
  if problems:
    raise InvalidSubmission(path, problems)
  position = pd.Series(np.arange(len(ids)), index=ids)
  return np.ascontiguousarray(embedding[position[manifest["example_id"]].to_numpy()], dtype=np.float32)


def warnings_for(embedding: np.ndarray) -> list[str]:
  """Signs of a broken model that still make a valid file."""
  found = []
  if embedding.shape[0] > 1 and np.all(embedding == embedding[0]):
    found.append("every embedding is identical: scores will be at chance")
  elif embedding.shape[0] > 1 and np.any(embedding.std(axis=0) == 0):
    found.append(f"{int(np.sum(embedding.std(axis=0) == 0))} of {embedding.shape[1]} dimensions are constant")
  return found
