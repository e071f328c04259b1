"""What is wrong with a submission, said once per kind of problem, for people and (with --json) programs."""

import dataclasses

import numpy as np

from nossbench import UserError

EXAMPLES_SHOWN = 5
# No embedding model gives more dimensions than this (the widest common ones give a few thousand); a
# wider array is a broken or hostile file whose probes would run for hours. --max-dims raises it.
DEFAULT_MAX_DIMS = 65_536
MAX_ID_CHARS = 512  # example ids are short names derived from paths
# Decoded bytes a compressed submission may declare per byte of file: float embeddings pack under ~60:1,
# a decompression bomb ~1000:1 (measurements and reasons: npz_reader.py, benchmarks/RESULTS.md).
MAX_RATIO = 200


@dataclasses.dataclass
class Problem:
  code: str  # stable, for programs: missing_ids, unknown_ids, duplicate_ids, non_finite, ...
  message: str  # one sentence for people, naming the ids or fields and what to do
  count: int | None = None
  examples: list = dataclasses.field(default_factory=list)  # the first few offending ids

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


def first(values) -> str:
  """The first few values, quoted, and how many there are in all."""
  values = list(values)
  shown = ", ".join(repr(str(v)) for v in values[:EXAMPLES_SHOWN])
  return shown + (f", ... ({len(values)} in all)" if len(values) > EXAMPLES_SHOWN else "")


def about(code: str, text: str, values) -> Problem:
  """A problem about some ids: `text` is followed by the first few of them."""
  values = [str(v) for v in values]
  return Problem(code, f"{len(values)} {text}: {first(values)}", len(values), values[:EXAMPLES_SHOWN])


def shape_problems(ids_shape: tuple, ids_dtype: np.dtype, shape: tuple | None, dtype: np.dtype | None,
                   max_dims: int = DEFAULT_MAX_DIMS) -> list[Problem]:
  """What is wrong with the arrays' shapes and types: from the arrays, or from an .npz's headers alone
  (before anything is read). `shape`/`dtype` are None when the embedding rows could not be assembled."""
  problems = []
  if len(ids_shape) >= 1 and ids_shape[0] == 0:
    problems.append(Problem("empty", "the submission is empty: it holds no examples"))
  if len(ids_shape) != 1:
    problems.append(Problem("ids_shape", f"example_id must be one-dimensional, got shape {ids_shape}"))
  if ids_dtype.kind not in "US":
    problems.append(Problem("ids_not_strings", f"example_id must hold strings, got dtype {ids_dtype}"))
  elif (chars := ids_dtype.itemsize // (4 if ids_dtype.kind == "U" else 1)) > MAX_ID_CHARS:
    problems.append(Problem("ids_too_long", f"example_id strings are up to {chars:,} characters long; task ids "
                                            f"are short names (at most {MAX_ID_CHARS})"))
  if shape is None:
    return problems
  if dtype.kind != "f":
    problems.append(Problem("not_float", f"embedding must be floating point (float16/32/64), got dtype {dtype}"))
  if len(shape) not in (2, 3):
    problems.append(Problem("rank", f"embedding must be [examples, dims] (or [examples, frames, dims] for "
                                    f"frame-level input), got shape {shape}"))
  elif shape[-1] == 0 or (len(shape) == 3 and shape[1] == 0):
    problems.append(Problem("no_dims", f"embedding has zero {'dimensions' if shape[-1] == 0 else 'frames'} "
                                       f"(shape {shape})"))
  elif shape[-1] > max_dims:
    problems.append(Problem("too_many_dims", f"embedding has {shape[-1]:,} dimensions, more than the "
                                             f"{max_dims:,} any embedding model gives; a file this wide is broken "
                                             "(pass --max-dims if it really is an embedding)"))
  if len(ids_shape) == 1 and len(shape) >= 1 and ids_shape[0] != shape[0]:
    problems.append(Problem("row_count", f"{ids_shape[0]} example ids but {shape[0]} embedding rows"))
  return problems


class InvalidSubmission(UserError):
  """Every problem found in a submission, listed in one error."""

  def __init__(self, path, problems: list[Problem]):
    self.path, self.problems = str(path), problems
    listed = "\n".join(f"  - {p.message}" for p in problems)
    super().__init__(f"{path} is not a valid submission ({len(problems)} problem"
                     f"{'s' if len(problems) != 1 else ''}):\n{listed}")


@dataclasses.dataclass
class Raw:
  """A submission as read, before validation. `embedding` is None when the rows could not be assembled
  (their problems are in `problems`); `frames` tells that the rows were frame-level and mean-pooled."""
  ids: np.ndarray
  embedding: np.ndarray | None
  problems: list[Problem] = dataclasses.field(default_factory=list)
  notes: list[str] = dataclasses.field(default_factory=list)
  frames: bool = False
