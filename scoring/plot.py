"""report.png: per-task scores with their 95% intervals, and every speaker's intra-speaker accuracy.

Error bars are the intervals of report.json (`intervals.py`): a bootstrap of the test predictions for a
single test split, the t interval of the mean over repeats or folds. Drawn with matplotlib's Agg backend
(no display needed).
"""

import math

import numpy as np
from etils import epath

from nossbench.scoring import report as report_module


def _errors(result: dict) -> tuple[float, float]:
  """(below, above) the value: the distance to each end of its 95% interval (0 where there is none)."""
  metric, value, _ = report_module.headline(result)
  interval = result.get(f"{metric}_ci") or [None, None]
  if value is None or any(v is None or not math.isfinite(v) for v in interval):
    return 0.0, 0.0
  return max(0.0, value - interval[0]), max(0.0, interval[1] - value)


def _spread_label(result: dict) -> str:
  if "repeats" in result or "folds" in result:
    return f"95% CI of the mean of {result.get('repeats') or result.get('folds')} " \
           f"{'repeats' if 'repeats' in result else 'folds'}"
  unit = result.get("interval", {}).get("unit")
  return f"95% CI, bootstrap over {unit}s" if unit else "95% CI"


def _main_result(results: dict) -> dict | None:
  for protocol in ("speaker_disjoint", "kfold", "canonical"):
    if protocol in results:
      return results[protocol]
  return None


def write(reports: list[dict], path) -> None:
  """One report, or several compared: bars grouped by task, one colour per submission."""
  import matplotlib  # pylint: disable=import-outside-toplevel

  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=import-outside-toplevel

  labels = [report_module.label_of(r) for r in reports]
  results = [{t["task"]: {x["protocol"]: x for x in t["results"]} for t in report_module.tasks_of(r)} for r in reports]
  tasks = list(dict.fromkeys(t for res in results for t in res))
  intra = [t for t in tasks if any("intra_speaker" in res.get(t, {}) for res in results)]
  figure, axes = pyplot.subplots(1, 2 if intra else 1, figsize=(6 + 3 * bool(intra) + 0.8 * len(tasks), 4.5),
                                 squeeze=False)
  width = 0.8 / len(reports)
  colours = pyplot.get_cmap("tab10")
  ax = axes[0][0]
  for i, (label, res) in enumerate(zip(labels, results)):
    shown = [(k, _main_result(res.get(t, {}))) for k, t in enumerate(tasks)]
    shown = [(k, r) for k, r in shown if r is not None]
    values = [100 * (report_module.headline(r)[1] or 0) for _, r in shown]
    positions = [k + (i - (len(reports) - 1) / 2) * width for k, _ in shown]
    errors = np.array([_errors(r) for _, r in shown]).reshape(-1, 2).T * 100
    ax.bar(positions, values, width, yerr=errors, capsize=4,
           color=colours(i % 10), label=label)
    for position, value in zip(positions, values):
      ax.text(position, 2, f"{value:.1f}", ha="center", fontsize=8, color="white")
    for k, r in shown:
      if "chance_accuracy" in r:
        ax.hlines(100 * r["chance_accuracy"], k - 0.4, k + 0.4, colors="grey", linestyles="dotted")
  ax.set_xticks(range(len(tasks)), [f"{t}\n({_protocol_label(res, t)})" for res in results[:1] for t in tasks],
                fontsize=8)
  ax.set_ylabel("test accuracy (%) (mAP for multi-label)")
  ax.set_ylim(0, 100)
  ax.set_title("Per task, test (dotted: majority class)", fontsize=10)
  if len(reports) > 1:
    ax.legend(fontsize=8)
  if intra:
    ax = axes[0][1]
    for i, res in enumerate(results):
      for k, t in enumerate(intra):
        result = res.get(t, {}).get("intra_speaker")
        if not result:
          continue
        values = 100 * np.array(sorted(result["per_speaker_accuracy"].values()))
        x = k + (i - (len(reports) - 1) / 2) * width + np.linspace(-width / 3, width / 3, len(values))
        ax.scatter(x, values, s=10, color=colours(i % 10), alpha=0.7)
        ax.hlines(100 * result["accuracy"], x.min() - 0.05, x.max() + 0.05, color=colours(i % 10))
        below, above = _errors(result)
        ax.errorbar(x.mean(), 100 * result["accuracy"], yerr=[[100 * below], [100 * above]], color="black",
                    capsize=4)
    ax.set_xticks(range(len(intra)), intra, fontsize=8)
    ax.set_xlim(-0.5, len(intra) - 0.5)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy per speaker (%), mean over repeats")
    ax.set_title("Intra-speaker: each dot a speaker (line: mean, bar: 95% CI)", fontsize=10)
  figure.tight_layout()
  with epath.Path(path).open("wb") as stream:  # matplotlib writes local files only; epath reaches gs:// too
    figure.savefig(stream, dpi=100, format="png")
  pyplot.close(figure)


def _protocol_label(results: dict, task: str) -> str:
  result = _main_result(results.get(task, {}))
  if not result:
    return "none"
  return f"{report_module.PROTOCOL_NAMES[result['protocol']].replace(' (test)', '')}, {_spread_label(result)}"
