"""Leaderboard plots, drawn on the server with matplotlib as SVG.

Per task: every published submission's score with its 95% interval (or its spread over repeats/folds, or
the score alone when the report has neither). Per submission: its score on each task against the spread of
every published score there. Text is drawn as paths, so names from users never become SVG markup.
"""

import io

import matplotlib
from matplotlib.figure import Figure

from nossbench.server import leaderboard

HIGHLIGHT, OTHERS = "#d1495b", "#2e6f95"


def _svg(figure: Figure) -> bytes:
  """Fixed ids and no date, so exporting the same data twice writes the same bytes."""
  buffer = io.BytesIO()
  with matplotlib.rc_context({"svg.hashsalt": "nossbench", "svg.fonttype": "path"}):
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
  return buffer.getvalue()


def _label(submission: leaderboard.Submission) -> str:
  return f"{submission.model_name} ({submission.team})" if submission.team else submission.model_name


def _error(cell: leaderboard.Cell) -> tuple[float, float]:
  if cell.low is not None and cell.high is not None:
    return 100 * (cell.score - cell.low), 100 * (cell.high - cell.score)
  if cell.std is not None:
    return 100 * cell.std, 100 * cell.std
  return 0.0, 0.0


def task_plot(task: str, protocol: str, submissions: list[leaderboard.Submission], highlight: str = "") -> bytes:
  """One row per submission scored on `task` under `protocol`, best at the top."""
  shown = [(s, leaderboard.cell_of(s.result(task, protocol))) for s in submissions]
  shown = sorted([(s, c) for s, c in shown if c is not None and c.score is not None],
                 key=lambda sc: (sc[1].score, sc[0].id))
  figure = Figure(figsize=(6.5, 1.2 + 0.35 * max(len(shown), 1)))
  ax = figure.subplots()
  for y, (submission, cell) in enumerate(shown):
    low, high = _error(cell)
    ax.errorbar([100 * cell.score], [y], xerr=[[low], [high]], fmt="o", capsize=4,
                color=HIGHLIGHT if submission.id == highlight else OTHERS)
  ax.set_yticks(range(len(shown)), [_label(s) for s, _ in shown], fontsize=8)
  ax.set_ylim(-0.7, max(len(shown), 1) - 0.3)
  metric = "mAP" if shown and shown[0][1].metric == "map" else "accuracy"
  ax.set_xlabel(f"test {metric} (%), bars: 95% interval where reported, else ±std over repeats")
  ax.set_xlim(-2, 102)
  ax.grid(axis="x", alpha=0.3)
  ax.set_title(f"{task}, {protocol.replace('_', '-')}: {len(shown)} published submission"
               f"{'' if len(shown) == 1 else 's'}", fontsize=10)
  if not shown:
    ax.text(50, 0, "no published scores yet", ha="center", va="center", color="grey")
  return _svg(figure)


def submission_plot(submission: leaderboard.Submission, published: list[leaderboard.Submission]) -> bytes:
  """Each table cell of the submission (red) against every published score of that cell (blue dots)."""
  columns = []
  for spec in leaderboard.TABLES:
    for task in spec.tasks:
      mine = leaderboard.cell_of(submission.result(task, spec.protocol))
      if mine is not None and mine.score is not None:
        others = [leaderboard.cell_of(s.result(task, spec.protocol)) for s in published if s.id != submission.id]
        columns.append((f"{task}\n{spec.protocol.replace('_', '-')}", mine,
                        [100 * c.score for c in others if c is not None and c.score is not None]))
  figure = Figure(figsize=(2 + 1.3 * max(len(columns), 1), 4))
  ax = figure.subplots()
  for x, (_, mine, others) in enumerate(columns):
    if others:
      ax.boxplot([others], positions=[x], widths=0.5, showfliers=False, medianprops={"color": OTHERS})
      ax.scatter([x] * len(others), others, s=14, color=OTHERS, alpha=0.6, zorder=3)
    low, high = _error(mine)
    ax.errorbar([x + 0.3], [100 * mine.score], yerr=[[low], [high]], fmt="D", capsize=4, color=HIGHLIGHT,
                zorder=4)
  ax.set_xticks(range(len(columns)), [c[0] for c in columns], fontsize=8)
  ax.set_xlim(-0.6, max(len(columns), 1) - 0.4)
  ax.set_ylim(-2, 102)
  ax.set_ylabel("test score (%)")
  ax.grid(axis="y", alpha=0.3)
  ax.set_title(f"{submission.model_name} (red) against the other published submissions (blue)", fontsize=10)
  return _svg(figure)
