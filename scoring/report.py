"""report.json (every number with how it was made) and report.md (laid out like the NOSS paper's tables).

A report describes one submission: with one task, report.json is that task's record; with several, it is
`{"submission", "tasks": [records]}`. `--compare` writes `{"compare": [reports]}`. In report.md, tasks
are columns, as in the paper's Table 2 (canonical, repeated and k-fold protocols) and Table 3
(intra-speaker); compared submissions are rows. Every test number is followed by its 95% interval in
brackets (`intervals.py`); repeated protocols show mean ± std over repeats or folds, then the interval
of the mean. Every result carries its protocol card and id (`protocol_card.py`).
"""

import json
import math
import os

from etils import epath

from nossbench.scoring import models

PROTOCOL_NAMES = {"canonical": "canonical split (test)", "lists": "supplied lists (test)",
                  "speaker_disjoint": "speaker-disjoint repeats (test)", "kfold": "k-fold (test)",
                  "intra_speaker": "intra-speaker", "verification": "verification"}
TABLE2 = ("canonical", "lists", "speaker_disjoint", "kfold")
DETAIL_METRICS = (("accuracy", "acc"), ("balanced_accuracy", "UAR"), ("macro_f1", "macro-F1"),
                  ("micro_f1", "micro-F1"), ("auc", "AUC"), ("eer", "EER"), ("dprime", "d′"),
                  ("map", "mAP"), ("roc_auc", "ROC-AUC"))


def tasks_of(report: dict) -> list[dict]:
  return report.get("tasks", [report])


def label_of(report: dict) -> str:
  return report.get("name") or report.get("submission", "submission")


def headline(result: dict) -> tuple[str, float, float | None]:
  """(metric, value, spread) shown for a result: accuracy, or mAP for multi-label tasks."""
  metric = "map" if "map" in result else "accuracy"
  return metric, result[metric], result.get(f"{metric}_std")


def _missing(value) -> bool:
  return value is None or (isinstance(value, float) and not math.isfinite(value))


def _percent(value: float, std: float | None = None, interval=None, scale: float = 100, digits: int = 1) -> str:
  """`79.7`, `79.7 ± 1.2`, `79.7 [76.1, 83.0]`: the value, its spread over parts, its 95% interval."""
  if _missing(value):
    return "n/a"
  text = f"{scale * value:.{digits}f}" + (f" ± {scale * std:.{digits}f}" if std is not None else "")
  if interval and not any(_missing(v) for v in interval):
    text += f" [{scale * interval[0]:.{digits}f}, {scale * interval[1]:.{digits}f}]"
  return text


def _cell(result: dict | None) -> str:
  if result is None:
    return "–"
  metric, value, std = headline(result)
  return _percent(value, std, result.get(f"{metric}_ci")) + (" (mAP)" if metric == "map" else "")


def _metric(result: dict, key: str) -> str:
  value = result[key]
  if key == "dprime":
    return _percent(value, None, result.get("dprime_ci"), scale=1, digits=2)
  return _percent(value, result.get(f"{key}_std"), result.get(f"{key}_ci"))


def _dcf(result: dict, key: str) -> str:
  return _percent(result[key], None, result.get(f"{key}_ci"), scale=1, digits=3)


def _row(label: str, cells) -> str:
  return "| " + " | ".join([label, *cells]) + " |"


def _table(header: str, tasks: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
  return [_row(header, tasks), "|" + "---|" * (len(tasks) + 1), *[_row(label, cells) for label, cells in rows]]


def _results(report: dict) -> dict[str, dict[str, dict]]:
  """{task: {protocol: result}}."""
  return {t["task"]: {r["protocol"]: r for r in t["results"]} for t in tasks_of(report)}


def _describe(task: str, r: dict) -> str:
  model = models.DESCRIPTIONS.get(r["model"], r["model"])
  if r["protocol"] == "verification":
    return (f"- {task}, verification: cosine similarity of {r['n_trials']} trial pairs ({r['n_target']} target), "
            f"EER {_percent(r['eer'])}%, minDCF {r['min_dcf_p0.01']:.3f} (P_target 0.01), "
            f"{r['min_dcf_p0.05']:.3f} (0.05).")
  if r["protocol"] == "intra_speaker":
    skipped = r["skipped_single_class_train"]
    return (f"- {task}, intra-speaker: {model}, normalisation `{r['normalization']}` (the best logistic "
            f"regression on the canonical validation split), one probe per speaker and repeat ({r['n_fits']} fits), accuracy averaged over "
            f"{r['speakers']} speakers, then mean ± std over {r['repeats']} repeats"
            + (f"; {len(skipped)} speakers skipped in some repeats (one class in train): {', '.join(skipped)}"
               if skipped else "") + (f"; {len(r['failed'])} fits failed" if r["failed"] else "") + ".")
  metric = r["selected_on"]
  if r["protocol"] in ("canonical", "lists"):
    chosen = _percent(r["validation"][metric.split()[-1]])
    return (f"- {task}, {PROTOCOL_NAMES[r['protocol']]}: {model}, normalisation `{r['normalization']}`, the "
            f"best of {len(r['grid'])} configurations by {metric} ({chosen}%; validation data: "
            f"{r['validation_source']}); fit on {r['n_train']} train examples, tested on {r['n_test']}"
            + (f"; majority-class chance {_percent(r['chance_accuracy'])}%" if "chance_accuracy" in r else "")
            + ("" if r["converged"] is not False else "; the logistic regression stopped at its 100-iteration "
               "limit, as in the reference") + _training(r.get("probe")) + ".")
  parts = r.get("per_repeat") or r.get("per_fold")
  chosen = sorted({f"{p['model']}/{p['normalization']}" for p in parts})
  return (f"- {task}, {PROTOCOL_NAMES[r['protocol']]}: {len(parts)} {'repeats' if 'per_repeat' in r else 'folds'}, "
          f"each choosing among {len(parts[0]['grid'])} configurations by {metric} (chosen: {', '.join(chosen)}); "
          "mean ± std over them.")


INTERVALS_NOTE = ("Brackets hold 95% intervals; ± is the standard deviation over repeats or folds. "
                  "The interval of a single test split is a bootstrap of the chosen probe's test predictions "
                  "(resampling speakers when the test split has enough of them, else examples; no refitting); "
                  "of repeats or folds, the t interval of their mean.")


def _interval_note(r: dict) -> str:
  about = r.get("interval", {})
  if about.get("unit"):
    return f" Interval: {about['replicates']} bootstrap replicates over {about['n_units']} {about['unit']}s."
  return f" Interval: {about['method']}." if about.get("method") else ""
def _training(probe: dict | None) -> str:
  if not probe:
    return ""
  return (f"; trained {probe['epochs']} epochs on {probe['device']} (batch {probe['batch_size']}, Adam "
          f"{probe['learning_rate']:g}), kept epoch {probe['best_epoch']} by validation {probe['validation_metric']}"
          + (f", stopped after {probe['patience']} epochs without improvement" if probe["stopped_early"] else
             f", stopped at the {probe['max_epochs']}-epoch limit"))


def _grid_table(task: str, r: dict) -> list[str]:
  """Validation score of every configuration of a canonical result: models as rows."""
  metric = r["selected_on"].split()[-1]
  norms = list(dict.fromkeys(e["normalization"] for e in r["grid"]))
  by_model = {}
  for e in r["grid"]:
    value = _percent(e["validation"][metric]) if "validation" in e else "failed"
    if (e["model"], e["normalization"]) == (r["model"], r["normalization"]):
      value = f"**{value}**"
    by_model.setdefault(e["model"], {})[e["normalization"]] = value
  return [f"Validation {metric} (%) of each configuration, {task} canonical (chosen in bold):", "",
          *_table("model", norms, [(m, [cells.get(n, "–") for n in norms]) for m, cells in by_model.items()]), ""]


def _single(report: dict) -> list[str]:
  results, tasks = _results(report), [t["task"] for t in tasks_of(report)]
  lines = []
  main = [p for p in TABLE2 if any(p in results[t] for t in tasks)]
  if main:
    lines += ["## Accuracy (%), NOSS Table 2 layout", "",
              *_table("protocol", tasks, [(PROTOCOL_NAMES[p], [_cell(results[t].get(p)) for t in tasks])
                                          for p in main]),
              ""]
  intra = [t for t in tasks if "intra_speaker" in results[t]]
  if intra:
    lines += ["## Intra-speaker accuracy (%), NOSS Table 3 layout", "",
              *_table("protocol", intra, [(PROTOCOL_NAMES["intra_speaker"],
                                           [_cell(results[t]["intra_speaker"]) for t in intra])]), ""]
  verified = [t for t in tasks if "verification" in results[t]]
  if verified:
    lines += ["## Speaker verification (cosine scoring)", "",
              *_table("metric", verified, [
                  ("EER (%)", [_metric(results[t]["verification"], "eer") for t in verified]),
                  ("minDCF (P_target 0.01)", [_dcf(results[t]["verification"], "min_dcf_p0.01") for t in verified]),
                  ("minDCF (P_target 0.05)", [_dcf(results[t]["verification"], "min_dcf_p0.05") for t in verified]),
                  ("trials", [str(results[t]["verification"]["n_trials"]) for t in verified])]), ""]
  detail = [(t, results[t][p]) for t in tasks for p in TABLE2 if p in results[t]]
  if detail:
    shown = [(key, label) for key, label in DETAIL_METRICS if any(isinstance(r.get(key), float) for _, r in detail)]
    rows = []
    for t, r in detail:
      chosen = "chosen per part" if r["model"] == "varies" else f"{r['model']} / {r['normalization']}"
      rows.append((f"{t}, {PROTOCOL_NAMES[r['protocol']]}, {chosen}",
                   [_metric(r, key) if key in r else "–" for key, _ in shown]))
    lines += ["## Every test metric (%; d′ as is)", "",
              *_table("task, protocol, probe", [label for _, label in shown], rows), ""]
  lines += ["## How each number was made", "", INTERVALS_NOTE]
  for t in tasks:
    lines += [_describe(t, r) + _interval_note(r) for r in results[t].values()]
  lines += ["", "Protocol ids (sha256 of each result's protocol card in report.json; equal ids, comparable "
            "numbers):", ""] + [f"- {t}, {p}: `{r['protocol_id'][:16]}`" for t in tasks
                                for p, r in results[t].items() if "protocol_id" in r]
  for task in tasks_of(report):
    lines += [f"- {task['task']}: {note}" for note in task.get("input_notes", []) + task.get("notes", [])]
    lines += [f"- {task['task']}: warning: {w}" for w in task["warnings"]]
  lines.append("")
  for t in tasks:
    if "canonical" in results[t]:
      lines += _grid_table(t, results[t]["canonical"])
  return lines


def markdown(report: dict) -> str:
  tasks = tasks_of(report)
  header = [f"# Scores for {label_of(report)}", "",
            f"{len(tasks)} task{'s' if len(tasks) > 1 else ''}; "
            + "; ".join(f"{t['task']}: {t['n_examples']} examples, {t['dims']} dimensions" for t in tasks)
            + f"; seed {tasks[0]['seed']}. Every configuration is chosen on validation data only.", ""]
  return "\n".join(header + _single(report)) + "\n"


def _marked(comparisons: dict | None) -> set:
  """(task, protocol, submission) of results shown beside others whose protocol id differs."""
  return {(m["task"], m["protocol"], m["submission"]) for m in (comparisons or {}).get("mixed", [])}


def compare_markdown(reports: list[dict], comparisons: dict | None = None) -> str:
  tasks = list(dict.fromkeys(t["task"] for r in reports for t in tasks_of(r)))
  results = [(label_of(r), _results(r)) for r in reports]
  if comparisons:
    labels = [label for label, _ in results]
    if len(set(labels)) < len(labels):
      results = [(f"{label} ({i + 1})", res) for i, (label, res) in enumerate(results)]
  marked = _marked(comparisons)

  def cell(label, res, task, protocol, text):
    return text + (" †" if (task, protocol, label) in marked else "")
  lines = [f"# {len(reports)} submissions side by side", "",
           "Rows are submissions, columns tasks; each number is chosen on validation data only.", ""]
  for protocol in (*TABLE2, "intra_speaker"):
    shown = [t for t in tasks if any(protocol in res.get(t, {}) for _, res in results)]
    if shown:
      title = "Intra-speaker accuracy (%), Table 3 layout" if protocol == "intra_speaker" else \
          f"{PROTOCOL_NAMES[protocol]}, accuracy (%), Table 2 layout"
      lines += [f"## {title}", "", *_table("submission", shown, [
          (label, [cell(label, res, t, protocol, _cell(res.get(t, {}).get(protocol))) for t in shown])
          for label, res in results]), ""]
  shown = [t for t in tasks if any("verification" in res.get(t, {}) for _, res in results)]
  if shown:
    lines += ["## Speaker verification, EER (%)", "", *_table("submission", shown, [
        (label, [cell(label, res, t, "verification", _metric(res[t]["verification"], "eer"))
                 if "verification" in res.get(t, {}) else "–" for t in shown]) for label, res in results]), ""]
  lines += [INTERVALS_NOTE, "", "Protocol ids (sha256 of the protocol card; only equal ids are compared):", ""]
  for t in tasks:
    for protocol in (*TABLE2, "intra_speaker", "verification"):
      ids = {label: res[t][protocol].get("protocol_id") for label, res in results if protocol in res.get(t, {})}
      if ids:
        distinct = sorted({str(i)[:16] for i in ids.values()})
        same = f"`{distinct[0]}`, the same for all {len(ids)}"
        lines.append(f"- {t}, {protocol}: " + (same if len(distinct) == 1 else "differ: " + ", ".join(
            f"{k} `{str(v)[:16]}`" for k, v in ids.items())))
  if marked:
    lines += ["", "† protocol id differs from the first submission's in this column (--allow-mixed-protocols): "
              "shown, not compared. Differing card fields:"]
    lines += [f"- {m['task']} {m['protocol']}, {m['submission']}: {', '.join(m['fields'])}"
              for m in comparisons["mixed"]]
  if comparisons:
    lines += ["", *_pairs_table(comparisons)]
  return "\n".join(lines) + "\n"


def _p(value) -> str:
  return "n/a" if value is None else f"{value:.3g}"


def _pairs_table(comparisons: dict) -> list[str]:
  pairs, alpha = comparisons["pairs"], comparisons["alpha"]
  if not pairs:
    return ["## Paired differences", "", "No two submissions share a task and protocol id: nothing to compare.", ""]
  rows = []
  for p in pairs:
    difference = _percent(p["difference"], None, p["difference_ci"])
    mcnemar = p.get("mcnemar", {})
    rows.append((f"{p['task']}, {PROTOCOL_NAMES[p['protocol']]}", [
        f"{p['a']} − {p['b']}", p["metric"], difference, _p(p["p_bootstrap"]), _p(p["p_holm"]),
        f"{_p(mcnemar.get('p'))} / {_p(p.get('mcnemar_p_holm'))}" if mcnemar else "–",
        "**yes**" if p["significant"] else "no"]))
  return [f"## Paired differences (percentage points; significant at α = {alpha:g} after Holm)", "",
          *_table("task, protocol", ["pair", "metric", "difference [95% CI]", "p (paired bootstrap)", "p (Holm)",
                                     "McNemar exact p / Holm", f"significant at {alpha:g}"], rows), "",
          f"Same test examples for both, same resampled units for both in every replicate. "
          f"{comparisons['correction']} (family-wise error at α = {alpha:g}); McNemar's p-values are Holm-corrected "
          "separately. Not significant means the data cannot tell the two apart at this level, not that they are "
          "equal.", ""]


def _strict(value):
  """NaN (an undefined score) and ±inf (d′ of a perfect AUC) become null: report.json stays strict JSON."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: _strict(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_strict(v) for v in value]
  return value


def to_json(report: dict) -> str:
  return json.dumps(_strict(report), indent=2, sort_keys=True, allow_nan=False)


def write(report: dict, out_dir, text: str) -> tuple[epath.Path, epath.Path]:
  """report.md, then report.json last, each whole or not at all (temporary name, then rename): a run
  stopped midway never leaves a report.json that looks complete."""
  out_dir = epath.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  json_path, md_path = out_dir / "report.json", out_dir / "report.md"
  for path, content in ((md_path, text), (json_path, to_json(report) + "\n")):
    temporary = out_dir / f".tmp-{os.getpid()}-{path.name}"
    temporary.write_text(content)
    temporary.replace(path)
  return json_path, md_path
