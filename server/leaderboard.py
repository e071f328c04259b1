"""What the leaderboard pages show, as plain data: published submissions turned into per-benchmark tables.

Pages, plots and the static export read only these dataclasses, so they do not depend on how the server
stores submissions (`pages_data.py` fills them from the database or from report folders on disk).

Layout follows the papers: NOSS (Shor et al. 2020) Table 2 puts the tasks as columns, one row per
representation, on each task's canonical test split; Table 3 holds the intra-speaker accuracies. HARES
has twelve tasks, scored on their canonical splits. A cell is the headline score of `score-submission`
(accuracy; mAP for multi-label tasks) with its 95% interval when the report has one.
"""

import dataclasses
import math
import pathlib
import re

from nossbench import UserError
from nossbench.scoring import compare as scoring_compare
from nossbench.scoring import report as report_module

# Column order of the papers' tables (the task part of `<benchmark>/<task>`).
NOSS_TASKS = ("voxceleb", "voxforge", "speech_commands", "crema_d", "savee", "dementiabank")
NOSS_INTRA_TASKS = ("crema_d", "savee", "speech_commands")
HARES_TASKS = ("audioset", "birdsong", "tut18", "esc50", "speech_commands_v1", "speech_commands_v2",
               "fluent_speech_commands", "voxforge", "voxceleb", "nsynth_instrument", "nsynth_pitch",
               "magnatagatune")

AGGREGATE = ("Aggregate: the mean of the row's scores (in %) over the tasks of this table that the submission "
             "was scored on; k/N says how many of the table's N tasks that is. Only rows with the same k/N "
             "average the same tasks.")


@dataclasses.dataclass(frozen=True)
class TableSpec:
  benchmark: str
  key: str  # file and anchor name
  title: str
  protocol: str  # the report protocol each cell is read from
  tasks: tuple[str, ...]  # full task names, in column order


TABLES = (
    TableSpec("noss", "noss-canonical", "NOSS, canonical test split (the paper's Table 2 layout)", "canonical",
              tuple(f"noss/{t}" for t in NOSS_TASKS)),
    TableSpec("noss", "noss-intra-speaker", "NOSS, intra-speaker (the paper's Table 3 layout)", "intra_speaker",
              tuple(f"noss/{t}" for t in NOSS_INTRA_TASKS)),
    TableSpec("hares", "hares-canonical", "HARES, canonical test split, twelve tasks", "canonical",
              tuple(f"hares/{t}" for t in HARES_TASKS)),
)
BENCHMARKS = tuple(dict.fromkeys(spec.benchmark for spec in TABLES))


@dataclasses.dataclass
class Submission:
  """One scored submission as the pages show it. `report` is the scorer's report.json."""
  id: str
  team: str
  model_name: str
  report: dict
  model_url: str = ""
  family: str = ""
  published: bool = True
  created: str = ""
  report_md: str = ""
  report_png: pathlib.Path | None = None  # read only when shown
  folder: pathlib.Path | None = None  # the report folder: kept test predictions, for paired comparisons
  protocol_cards: dict[str, dict] = dataclasses.field(default_factory=dict)  # "<task>, <protocol>" -> card
  files: list[dict] = dataclasses.field(default_factory=list)  # {"name", "sha256", "bytes"}
  history: list[dict] = dataclasses.field(default_factory=list)  # {"state", "at", "detail"}

  def __post_init__(self):
    if not self.family:
      self.family = family_of(self.model_name)

  @property
  def tasks(self) -> list[str]:
    return [t["task"] for t in report_module.tasks_of(self.report)]

  @property
  def benchmarks(self) -> list[str]:
    return list(dict.fromkeys(t.split("/")[0] for t in self.tasks))

  def result(self, task: str, protocol: str) -> dict | None:
    for record in report_module.tasks_of(self.report):
      if record["task"] == task:
        return next((r for r in record["results"] if r["protocol"] == protocol), None)
    return None


def family_of(model_name: str) -> str:
  """A model's family when the submitter declared none: the leading letters of its name
  (`mfcc13` → mfcc, `opensmile_compare16` → opensmile, `hear:module` → hear)."""
  match = re.match(r"[a-z]+", model_name.strip().lower())
  return match.group(0) if match else "other"


@dataclasses.dataclass(frozen=True)
class Cell:
  metric: str  # "accuracy" or "map"
  score: float | None  # fraction in [0, 1]; None when undefined
  low: float | None = None  # 95% interval, when the report has one
  high: float | None = None
  std: float | None = None  # spread over repeats or folds, when there are several

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


def interval(result: dict, metric: str) -> tuple[float | None, float | None]:
  """The 95% interval of `metric` in a result: `<metric>_ci` as [low, high] or {"low", "high"}.
  Reports scored before intervals existed have none: (None, None)."""
  found = result.get(f"{metric}_ci")
  if isinstance(found, dict):
    found = (found.get("low"), found.get("high"))
  if isinstance(found, (list, tuple)) and len(found) == 2 and all(_number(v) for v in found):
    return float(found[0]), float(found[1])
  return None, None


def _number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def cell_of(result: dict | None) -> Cell | None:
  if result is None:
    return None
  metric, value, std = report_module.headline(result)
  low, high = interval(result, metric)
  return Cell(metric, float(value) if _number(value) else None, low, high,
              float(std) if _number(std) and (result.get("repeats") or result.get("folds") or 0) > 1 else None)


@dataclasses.dataclass
class Row:
  submission: Submission
  cells: dict[str, Cell | None]  # task -> cell
  aggregate: float | None
  covered: int


@dataclasses.dataclass
class Table:
  spec: TableSpec
  rows: list[Row]

  @property
  def tasks(self) -> tuple[str, ...]:
    return self.spec.tasks

  @property
  def scored_tasks(self) -> list[str]:
    return [t for t in self.tasks if any(row.cells[t] is not None for row in self.rows)]

  def as_json(self) -> dict:
    """The exported table (format documented in export.py)."""
    return {
        "benchmark": self.spec.benchmark, "table": self.spec.key, "title": self.spec.title,
        "protocol": self.spec.protocol, "tasks": list(self.tasks), "aggregate_definition": AGGREGATE,
        "rows": [{"submission": row.submission.id, "team": row.submission.team,
                  "model": row.submission.model_name, "model_url": row.submission.model_url,
                  "family": row.submission.family, "aggregate": row.aggregate,
                  "tasks_covered": row.covered,
                  "cells": {t: c.as_dict() if c else None for t, c in row.cells.items()}}
                 for row in self.rows]}


def table(spec: TableSpec, submissions: list[Submission]) -> Table:
  """Rows for every submission with at least one score in the table, best aggregate first (ties by id)."""
  rows = []
  for submission in submissions:
    cells = {task: cell_of(submission.result(task, spec.protocol)) for task in spec.tasks}
    scores = [c.score for c in cells.values() if c is not None and c.score is not None]
    if any(c is not None for c in cells.values()):
      rows.append(Row(submission, cells, sum(scores) / len(scores) if scores else None,
                      sum(c is not None for c in cells.values())))
  rows.sort(key=lambda r: (r.aggregate is None, -(r.aggregate or 0), r.submission.id))
  return Table(spec, rows)


def tables(submissions: list[Submission]) -> list[Table]:
  return [table(spec, submissions) for spec in TABLES]


def families(submissions: list[Submission]) -> list[str]:
  return sorted({s.family for s in submissions})


def sort_rows(rows: list[Row], column: str, descending: bool) -> list[Row]:
  """Rows sorted by a column: "aggregate", "team", "model", "family" or a task; empty cells last either way."""
  def value(row: Row):
    if column == "aggregate":
      return row.aggregate
    if column in ("team", "family"):
      return getattr(row.submission, column).lower()
    if column == "model":
      return row.submission.model_name.lower()
    cell = row.cells.get(column)
    return cell.score if cell is not None else None

  present = sorted((r for r in rows if value(r) is not None), key=value, reverse=descending)
  return present + [r for r in rows if value(r) is None]


@dataclasses.dataclass
class Difference:
  cell: Cell | None
  difference: float | None  # score minus the first submission's, as a fraction
  other_protocol: bool = False  # its protocol id differs from the first submission's: not comparable
  paired: dict | None = None  # the scorer's paired test against the first submission, Holm-adjusted


@dataclasses.dataclass
class Comparison:
  """Submissions side by side on one protocol; differences are against the first submission."""
  protocol: str
  tasks: list[str]
  rows: list[tuple[Submission, dict[str, Difference]]]


def compare(submissions: list[Submission]) -> list[Comparison]:
  """One comparison per protocol that any of the submissions was scored on, tasks in table order. Results
  whose protocol ids (the scorer's hash of its protocol card) differ get no difference: their numbers were
  made differently."""
  ordered = [t for spec in TABLES for t in spec.tasks]
  comparisons = []
  for protocol in (*report_module.TABLE2, "intra_speaker"):
    tasks = list(dict.fromkeys(t for s in submissions for t in s.tasks if s.result(t, protocol)))
    if not tasks:
      continue
    tasks.sort(key=lambda t: (ordered.index(t) if t in ordered else len(ordered), t))
    first = {t: submissions[0].result(t, protocol) for t in tasks}
    rows = []
    for submission in submissions:
      differences = {}
      for task in tasks:
        result, reference = submission.result(task, protocol), first[task]
        cell, reference_cell = cell_of(result), cell_of(reference)
        ids = {r.get("protocol_id") for r in (result, reference) if r is not None}
        other = None not in ids and len(ids) > 1
        both = not other and None not in (cell, reference_cell) and None not in (cell.score, reference_cell.score)
        differences[task] = Difference(cell, cell.score - reference_cell.score if both else None, other)
      rows.append((submission, differences))
    comparisons.append(Comparison(protocol, tasks, rows))
  _add_paired_tests(submissions, comparisons)
  return comparisons


def _add_paired_tests(submissions: list[Submission], comparisons: list[Comparison], alpha: float = 0.05) -> None:
  """Each submission against the first on the same test examples (`score-submission --compare`'s paired
  bootstrap on the kept predictions), Holm-adjusted over every test on the page. Pairs whose predictions
  are not kept (reports from before intervals) or whose protocol ids differ stay untested."""
  first = submissions[0]
  if first.folder is None:
    return
  found = {}
  for submission in submissions[1:]:
    if submission.folder is None or submission.id == first.id:
      continue
    try:
      pairs = scoring_compare.compare([first.report, submission.report], [first.folder, submission.folder],
                                      alpha, allow_mixed=True)["pairs"]
    except UserError:
      continue  # predictions missing or changed: plain differences only, as for older reports
    for pair in pairs:
      found[(submission.id, pair["task"], pair["protocol"])] = pair
  adjusted = scoring_compare.holm([p["p_bootstrap"] for p in found.values()])
  for pair, p_holm in zip(found.values(), adjusted):
    pair["p_holm"], pair["significant"] = p_holm, bool(p_holm < alpha)
  for comparison in comparisons:
    for submission, differences in comparison.rows:
      for task, difference in differences.items():
        pair = found.get((submission.id, task, comparison.protocol))
        if pair is not None and not difference.other_protocol:
          difference.paired = pair
