"""95% intervals on test metrics, by a seeded bootstrap of the chosen probe's test predictions (no refitting).

The resampled unit is the speaker where the test split has at least MIN_CLUSTERS speakers (a cluster
bootstrap: examples of one speaker are not independent), the example otherwise. A replicate draws the
units with replacement; each drawn unit brings all its examples. Every replicate is a row of a
(replicates x units) count matrix W, so each metric is a few matrix products with per-unit sufficient
statistics: correct / true / predicted counts per class (accuracy, UAR, macro-F1) or per-example weights
on a sorted score list (AUC, EER, minDCF, average precision). Intervals are percentile intervals.
Repeats and folds: mean ± std over them and the Student-t interval of that mean.
"""

import math

import numpy as np
from scipy import stats

REPLICATES = 1000
LEVEL = 0.95
MIN_CLUSTERS = 5  # fewer test speakers than this: resampling speakers says little, examples are resampled
CELLS = 4_000_000  # replicates x units (or x examples) held at once, to bound memory on large test sets


def units(speaker_ids) -> tuple[np.ndarray, str]:
  """(unit code of each test example, unit name): speakers when there are enough of them, else examples."""
  speaker_ids = np.asarray(speaker_ids, dtype=str)
  if speaker_ids.size and (speaker_ids != "").all() and len(np.unique(speaker_ids)) >= MIN_CLUSTERS:
    return np.unique(speaker_ids, return_inverse=True)[1].reshape(-1), "speaker"
  return np.arange(len(speaker_ids)), "example"


def counts(n_units: int, seed: int, replicates: int = REPLICATES):
  """Yields blocks of the (replicates x n_units) resample-count matrix; the same seed, the same matrix."""
  rng = np.random.default_rng(seed)
  block = max(1, CELLS // max(n_units, 1))
  for start in range(0, replicates, block):
    size = min(block, replicates - start)
    yield rng.multinomial(n_units, np.full(n_units, 1 / n_units), size=size).astype(np.float64)


def percentile(values: np.ndarray) -> list[float]:
  """The central LEVEL interval of finite replicate values, [nan, nan] when there are none."""
  values = values[np.isfinite(values)]
  if not len(values):
    return [math.nan, math.nan]
  tail = 100 * (1 - LEVEL) / 2
  return [float(v) for v in np.percentile(values, [tail, 100 - tail])]


def _per_unit(unit: np.ndarray, codes: np.ndarray, n_units: int, n_classes: int, weights=None) -> np.ndarray:
  """[n_units, n_classes] counts of each class code per unit (no dense one-hot: VoxCeleb has 1,251 classes)."""
  return np.bincount(unit * n_classes + codes, weights, minlength=n_units * n_classes).reshape(n_units, n_classes)


class ClassStats:
  """Per-unit counts of true, predicted and correct labels per class: enough for accuracy, UAR, macro-F1."""

  def __init__(self, y_true: np.ndarray, y_pred: np.ndarray, unit: np.ndarray, n_units: int, n_classes: int):
    unit, y_true, y_pred = (np.asarray(a, np.int64) for a in (unit, y_true, y_pred))
    self.true = _per_unit(unit, y_true, n_units, n_classes).astype(float)
    self.pred = _per_unit(unit, y_pred, n_units, n_classes).astype(float)
    self.correct = _per_unit(unit, y_true, n_units, n_classes, (y_true == y_pred).astype(float))

  def metrics(self, w: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric for each row of the count block `w` [b, n_units], as scikit-learn defines it."""
    true, pred, correct = w @ self.true, w @ self.pred, w @ self.correct
    present = true > 0
    with np.errstate(invalid="ignore", divide="ignore"):
      accuracy = correct.sum(1) / true.sum(1)
      recall = np.where(present, correct / np.where(present, true, 1), 0).sum(1) / present.sum(1)
      f1 = np.where(present, 2 * correct / np.where(present, true + pred, 1), 0).sum(1) / present.sum(1)
    return {"accuracy": accuracy, "balanced_accuracy": recall, "macro_f1": f1, "micro_f1": accuracy}


def weighted_rates(positive: np.ndarray, score: np.ndarray, weights: np.ndarray):
  """(fpr, fnr, tp, fp) at every distinct threshold, highest first, for each row of `weights` [b, n]
  (a zero-threshold point first, as scikit-learn's roc_curve)."""
  order = np.argsort(-score, kind="stable")
  score, positive, weights = score[order], positive[order], weights[:, order]
  last = np.r_[np.flatnonzero(np.diff(score) != 0), len(score) - 1]  # the end of each run of tied scores
  tp = np.cumsum(weights * positive, axis=1)[:, last]
  fp = np.cumsum(weights * ~positive, axis=1)[:, last]
  tp, fp = np.pad(tp, ((0, 0), (1, 0))), np.pad(fp, ((0, 0), (1, 0)))
  with np.errstate(invalid="ignore", divide="ignore"):
    fpr, fnr = fp / fp[:, -1:], 1 - tp / tp[:, -1:]
  return fpr, fnr, tp, fp


def eer(fpr: np.ndarray, fnr: np.ndarray) -> np.ndarray:
  """Row-wise equal error rate, interpolated between ROC points as metrics.eer does."""
  crossed = np.argmax(fnr <= fpr, axis=1)
  rows = np.arange(len(fpr))
  before = np.maximum(crossed - 1, 0)
  gap_before = fnr[rows, before] - fpr[rows, before]
  gap_after = fnr[rows, crossed] - fpr[rows, crossed]
  with np.errstate(invalid="ignore", divide="ignore"):
    t = np.where(crossed == 0, 0, gap_before / (gap_before - gap_after))
  return np.where(crossed == 0, fpr[rows, crossed],
                  fpr[rows, before] + t * (fpr[rows, crossed] - fpr[rows, before]))


def binary_metrics(positive: np.ndarray, score: np.ndarray, w: np.ndarray, priors=()) -> dict[str, np.ndarray]:
  """AUC, EER, d′ (and minDCF at each target prior) of weighted examples, one value per row of `w`."""
  fpr, fnr, _, _ = weighted_rates(positive, score, w)
  auc = np.trapezoid(1 - fnr, fpr, axis=1)
  found = {"auc": auc, "eer": eer(fpr, fnr), "dprime": math.sqrt(2) * stats.norm.ppf(auc)}
  for prior in priors:
    cost = prior * fnr + (1 - prior) * fpr
    found[f"min_dcf_p{prior:g}"] = cost.min(axis=1) / min(prior, 1 - prior)
  return found


def average_precision(positive: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
  """Row-wise average precision (scikit-learn's step sum, no interpolation); nan without positives."""
  _, _, tp, fp = weighted_rates(positive, score, w)
  with np.errstate(invalid="ignore", divide="ignore"):
    precision = np.where(tp + fp > 0, tp / (tp + fp), 1)
    recall = tp / tp[:, -1:]
  return np.sum(np.diff(recall, axis=1) * precision[:, 1:], axis=1)


def bootstrap(metric_fn, n_units: int, seed: int, replicates: int = REPLICATES) -> dict[str, np.ndarray]:
  """Runs `metric_fn(count_block) -> {name: values}` over every block; the replicate values per metric."""
  blocks = [metric_fn(w) for w in counts(n_units, seed, replicates)]
  return {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}


def classification(y_true, y_pred, scores, speaker_ids, n_classes: int, seed: int) -> dict:
  """Replicate values of every single-label metric for one test split; see `summary`."""
  unit, name = units(speaker_ids)
  n_units = int(unit.max()) + 1 if len(unit) else 0
  class_stats = ClassStats(y_true, y_pred, unit, n_units, n_classes)
  positive = y_true == 1

  def metric_fn(w):
    found = class_stats.metrics(w)
    if n_classes == 2:
      found.update(binary_metrics(positive, scores[:, 1], w[:, unit]))
    return found
  return {"unit": name, "n_units": n_units, "replicates": bootstrap(metric_fn, n_units, seed)}


def multilabel(y_true: np.ndarray, scores: np.ndarray, speaker_ids, seed: int) -> dict:
  """Replicate mAP and ROC-AUC over the classes with positives and negatives in each replicate."""
  unit, name = units(speaker_ids)
  n_units = int(unit.max()) + 1
  present = y_true.sum(0)
  scored = np.flatnonzero((present > 0) & (present < len(y_true)))
  # Fewer replicates where classes x examples is large (AudioSet), so the cost stays near a dense task's.
  replicates = int(min(REPLICATES, max(200, 2e9 // max(1, len(scored) * len(y_true)))))

  def metric_fn(w):
    weights = w[:, unit]
    ap, auc = [], []
    for c in scored:
      positive = y_true[:, c].astype(bool)
      ap.append(average_precision(positive, scores[:, c], weights))
      auc.append(binary_metrics(positive, scores[:, c], weights)["auc"])
    with np.errstate(invalid="ignore"):
      return {"map": np.nanmean(np.stack(ap, 1), 1) if ap else np.full(len(w), np.nan),
              "roc_auc": np.nanmean(np.stack(auc, 1), 1) if auc else np.full(len(w), np.nan)}
  return {"unit": name, "n_units": n_units, "replicates": bootstrap(metric_fn, n_units, seed, replicates)}


def verification(target: np.ndarray, score: np.ndarray, enrol_speakers, seed: int, priors) -> dict:
  """Replicates of EER, AUC and minDCF, resampling the enrolment speakers of the trial list."""
  unit, name = units(enrol_speakers)
  n_units = int(unit.max()) + 1
  return {"unit": name, "n_units": n_units, "replicates": bootstrap(
      lambda w: binary_metrics(target, score, w[:, unit], priors), n_units, seed)}


def summary(point: dict, boot: dict) -> dict:
  """`<metric>_ci` for every metric of `point` that has replicates, and how they were made."""
  found = {f"{k}_ci": percentile(v) for k, v in boot["replicates"].items() if k in point}
  count = len(next(iter(boot["replicates"].values())))
  found["interval"] = {"level": LEVEL, "method": f"percentile bootstrap over {boot['unit']}s", "unit": boot["unit"],
                       "n_units": boot["n_units"], "replicates": count}
  return found


def of_mean(values) -> list[float]:
  """Student-t interval of the mean of repeat or fold values; [nan, nan] for fewer than two."""
  values = np.asarray(values, float)
  if len(values) < 2:
    return [math.nan, math.nan]
  half = stats.t.ppf((1 + LEVEL) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
  return [float(values.mean() - half), float(values.mean() + half)]


def of_parts(per_part: list[dict], keys: list[str]) -> dict:
  """`<metric>_ci` of the mean over repeats or folds (each part keeps its own bootstrap interval)."""
  found = {f"{k}_ci": of_mean([p[k] for p in per_part]) for k in keys}
  found["interval"] = {"level": LEVEL, "method": f"Student t interval of the mean over {len(per_part)} parts "
                       "(each part's own bootstrap interval is in its entry)", "parts": len(per_part)}
  return found
