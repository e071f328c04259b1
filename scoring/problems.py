"""What is wrong with a submission, said once per kind of problem, for people and (with --json) programs."""

import dataclasses

import numpy as np

from nossbench import UserError

EXAMPLES_SHOWN = 5


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
