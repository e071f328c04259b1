"""`--compare`: paired comparisons of submissions scored on the same task and protocol.

Two results are paired only when their protocol ids are equal (same build, manifest, grid, seed,
versions: see `protocol_card.py`); then they were tested on the very same examples, whose kept
predictions (`predictions.py`) are lined up by example id (and repeat or fold). For every pair:
- the difference of the headline metric (accuracy; mAP for multi-label; EER for verification;
  intra-speaker: the mean of per-speaker accuracies), with a paired-bootstrap 95% interval: each
  replicate draws the same units (speakers where the test split has enough of them, else examples) for
  both submissions; the two-sided p-value is the share of replicate differences at least as far from the
  observed one as the observed one is from zero;
- McNemar's exact test on the discordant examples for accuracy, where each example is tested once;
- Holm's step-down correction over every pair of the run (the family), for the bootstrap p-values and,
  separately, McNemar's; a difference is significant when its Holm-adjusted p-value is below alpha.
Results with different protocol ids are refused, naming the card fields that differ, unless
--allow-mixed-protocols, which shows them marked and leaves them untested.
"""

import itertools

import numpy as np
from scipy import stats

from nossbench import UserError
from nossbench.scoring import intervals, predictions, protocol_card, report

ORDER = (*report.TABLE2, "intra_speaker", "verification")


def holm(p_values: list[float]) -> list[float]:
  """Holm-adjusted p-values (step-down, monotone, capped at 1); NaN entries stay NaN and do not count."""
  p = np.asarray(p_values, float)
  valid = np.flatnonzero(~np.isnan(p))
  adjusted = np.full(len(p), np.nan)
  order = valid[np.argsort(p[valid], kind="stable")]
  running = 0.0
  for rank, i in enumerate(order):
    running = max(running, min(1.0, (len(order) - rank) * p[i]))
    adjusted[i] = running
  return adjusted.tolist()


def _paired(metric_a, metric_b, unit: np.ndarray, seed: int) -> dict:
  """Difference a - b of two metrics of example weights [b, n], its interval and p-value over units."""
  n_units = int(unit.max()) + 1
  observed = float(metric_a(np.ones((1, len(unit))))[0] - metric_b(np.ones((1, len(unit))))[0])
  boot = intervals.bootstrap(lambda w: {"d": metric_a(w[:, unit]) - metric_b(w[:, unit])}, n_units, seed)["d"]
  boot = boot[np.isfinite(boot)]
  p = (1 + np.sum(np.abs(boot - observed) >= abs(observed))) / (len(boot) + 1)
  return {"difference": observed, "difference_ci": intervals.percentile(boot), "p_bootstrap": float(p),
          "replicates": int(len(boot))}


def _mean_over_parts(part: np.ndarray, per_part_metric):
  """A metric of weights averaged over repeats or folds (one part: the metric itself)."""
  parts = [part == p for p in np.unique(part)]
  return lambda w: np.mean([per_part_metric(w[:, m], m) for m in parts], axis=0)


def _aligned(a: dict, b: dict, keys: tuple[str, ...], where: str) -> np.ndarray:
  """Positions in b of a's rows, matched on `keys`; refuses predictions on different examples."""
  key_a = [tuple(map(str, row)) for row in zip(*(a[k] for k in keys))]
  key_b = {tuple(map(str, row)): i for i, row in enumerate(zip(*(b[k] for k in keys)))}
  if len(key_a) != len(key_b) or any(k not in key_b for k in key_a):
    raise UserError(f"{where}: the kept test predictions do not cover the same examples although the protocol "
                    "ids match; score both submissions again")
  return np.array([key_b[k] for k in key_a])


def _units(arrays: dict) -> np.ndarray:
  return np.unique(arrays["unit"], return_inverse=True)[1].reshape(-1)


def _classification(a: dict, b: dict, seed: int, where: str) -> dict:
  keys = ("part", "example_id") if "part" in a else ("example_id",)
  b = {k: v[_aligned(a, b, keys, where)] for k, v in b.items()}
  part = a.get("part", np.zeros(len(a["example_id"]), int))
  unit = _units(a)
  if "predicted" in a:  # single-label: accuracy
    def accuracy(arrays):
      correct = (arrays["predicted"] == arrays["label"]).astype(float)
      return _mean_over_parts(part, lambda w, m: (w @ correct[m]) / w.sum(1))
    found = {"metric": "accuracy", **_paired(accuracy(a), accuracy(b), unit, seed)}
    once = not len(np.unique(a["example_id"])) < len(a["example_id"])
    right_a, right_b = a["predicted"] == a["label"], b["predicted"] == b["label"]
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    found["mcnemar"] = {"a_only_right": only_a, "b_only_right": only_b, "p": float(
        stats.binomtest(only_a, only_a + only_b, 0.5).pvalue) if once and only_a + only_b else None}
    if not once:
      found["mcnemar"]["note"] = "not applicable: examples are tested in several repeats"
    return found

  def mean_ap(arrays):
    truth, score = arrays["label"].astype(bool), arrays["score"]

    def per_part(w, m):
      columns = [c for c in range(truth.shape[1]) if 0 < truth[m, c].sum() < m.sum()]
      with np.errstate(invalid="ignore"):
        return np.nanmean(np.stack([intervals.average_precision(truth[m, c], score[m, c], w) for c in columns], 1), 1)
    return _mean_over_parts(part, per_part)
  return {"metric": "map", **_paired(mean_ap(a), mean_ap(b), unit, seed)}


def _verification(a: dict, b: dict, seed: int, where: str) -> dict:
  b = {k: v[_aligned(a, b, ("enrol_id", "test_id"), where)] for k, v in b.items()}
  target = a["target"].astype(bool)

  def eer(arrays):
    return lambda w: intervals.binary_metrics(target, arrays["score"], w)["eer"]
  return {"metric": "eer", **_paired(eer(a), eer(b), _units(a), seed)}


def _intra_speaker(a: dict, b: dict, seed: int) -> dict:
  speakers = sorted(set(a["per_speaker_accuracy"]) & set(b["per_speaker_accuracy"]))
  diff = np.array([a["per_speaker_accuracy"][s] - b["per_speaker_accuracy"][s] for s in speakers], float)
  return {"metric": "accuracy (mean of per-speaker accuracies)", **_paired(
      lambda w: w @ diff / w.sum(1), lambda w: np.zeros(len(w)), np.arange(len(diff)), seed),
      "speakers": len(speakers)}


def _pair(protocol: str, first: tuple, second: tuple, seed: int, where: str) -> dict:
  (_, result_a, folder_a), (_, result_b, folder_b) = first, second
  if protocol == "intra_speaker":
    return _intra_speaker(result_a, result_b, seed)
  arrays_a, arrays_b = predictions.read(folder_a, result_a), predictions.read(folder_b, result_b)
  if protocol == "verification":
    return _verification(arrays_a, arrays_b, seed, where)
  return _classification(arrays_a, arrays_b, seed, where)


def compare(reports: list[dict], folders: list, alpha: float, allow_mixed: bool) -> dict:
  """Every pair of submissions on every task and protocol they share: {"pairs", "mixed", "alpha", ...}."""
  labels = [report.label_of(r) for r in reports]
  if len(set(labels)) < len(labels):
    labels = [f"{label} ({i + 1})" for i, label in enumerate(labels)]
  by_task = [{t["task"]: (t, {x["protocol"]: x for x in t["results"]}) for t in report.tasks_of(r)} for r in reports]
  tasks = list(dict.fromkeys(t for res in by_task for t in res))
  pairs, mixed, refused = [], [], []
  for task in tasks:
    for protocol in ORDER:
      entries = [(labels[i], res[task][1][protocol], folders[i], res[task][0]["seed"])
                 for i, res in enumerate(by_task) if protocol in res.get(task, (None, {}))[1]]
      if not entries:
        continue
      reference = entries[0][1]
      for label, result, _, _ in entries[1:]:
        if result.get("protocol_id") != reference.get("protocol_id"):
          fields = protocol_card.differences(reference.get("protocol_card"), result.get("protocol_card"))
          mixed.append({"task": task, "protocol": protocol, "submission": label, "reference": entries[0][0],
                        "fields": fields})
          refused.append(f"{task} {protocol}: {label} differs from {entries[0][0]} in {', '.join(fields)}")
      for first, second in itertools.combinations(entries, 2):
        if first[1].get("protocol_id") is None or first[1].get("protocol_id") != second[1].get("protocol_id"):
          continue
        where = f"{task} {protocol}, {first[0]} vs {second[0]}"
        found = _pair(protocol, first[:3], second[:3], first[3], where)
        pairs.append({"task": task, "protocol": protocol, "a": first[0], "b": second[0],
                      "protocol_id": first[1]["protocol_id"], **found})
  if refused and not allow_mixed:
    raise UserError("results with different protocol ids cannot share a column (their numbers do not compare): "
                    + "; ".join(refused) + ". Score them with the same manifests, grid, seed and versions, or "
                    "pass --allow-mixed-protocols to show them side by side, marked and untested.")
  for key, adjusted in (("p_bootstrap", "p_holm"), ("mcnemar", "mcnemar_p_holm")):
    values = [(p[key]["p"] if key == "mcnemar" else p[key]) if key in p else None for p in pairs]
    for pair, value in zip(pairs, holm([np.nan if v is None else v for v in values])):
      pair[adjusted] = None if np.isnan(value) else value
  for pair in pairs:
    pair["significant"] = pair["p_holm"] is not None and pair["p_holm"] < alpha
  return {"alpha": alpha, "correction": f"Holm over all {len(pairs)} paired comparisons of this run",
          "pairs": pairs, "mixed": mixed}
