"""The numbers a probe is judged by: scikit-learn's metrics, plus EER, d′ and minDCF built on its ROC curve.

Single-label tasks get accuracy, balanced accuracy (the unweighted average recall, UAR), macro- and
micro-F1; binary tasks add AUC, EER and d′ = √2·Φ⁻¹(AUC) from the positive class's probability;
multi-label tasks get mAP and ROC-AUC averaged over the classes that have both positive and negative
examples in the evaluated set (the others have no defined score and are counted, not hidden).
"""

import math

import numpy as np
from scipy import stats
from sklearn import metrics as sk

# Speaker-verification operating points: P_target 0.01 (VoxCeleb1 papers) and 0.05 (VoxSRC), C_miss = C_fa = 1.
DCF_TARGET_PRIORS = (0.01, 0.05)


def classification(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray, n_classes: int) -> dict:
  """Metrics of single-label predictions; `scores` [n, n_classes] are class probabilities."""
  found = {
      "accuracy": sk.accuracy_score(y_true, y_pred),
      "balanced_accuracy": sk.balanced_accuracy_score(y_true, y_pred),
      "macro_f1": sk.f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true), zero_division=0),
      "micro_f1": sk.f1_score(y_true, y_pred, average="micro"),
  }
  if n_classes == 2:
    found.update(binary(y_true == 1, scores[:, 1]))
  return {name: float(value) for name, value in found.items()}


def binary(positive: np.ndarray, score: np.ndarray) -> dict:
  """AUC, EER and d′ of scores for a boolean target; NaN where one of the classes is absent."""
  if positive.all() or not positive.any():
    return {"auc": math.nan, "eer": math.nan, "dprime": math.nan}
  auc = sk.roc_auc_score(positive, score)
  return {"auc": auc, "eer": eer(positive, score), "dprime": dprime(auc)}


def _scored_classes(y_true: np.ndarray) -> np.ndarray:
  positives = y_true.sum(axis=0)
  return np.flatnonzero((positives > 0) & (positives < len(y_true)))


def mean_average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
  """mAP alone (the linear probe's early-stopping score, measured every epoch: ROC-AUC would double its cost)."""
  scored = _scored_classes(y_true)
  if not len(scored):
    return math.nan
  return float(sk.average_precision_score(y_true[:, scored], scores[:, scored], average="macro"))


def multilabel(y_true: np.ndarray, scores: np.ndarray) -> dict:
  """mAP and macro ROC-AUC over the classes with both positives and negatives in `y_true` [n, classes]."""
  scored = _scored_classes(y_true)
  if not len(scored):
    return {"map": math.nan, "roc_auc": math.nan, "classes_scored": 0}
  return {"map": mean_average_precision(y_true, scores),
          "roc_auc": float(sk.roc_auc_score(y_true[:, scored], scores[:, scored], average="macro")),
          "classes_scored": int(len(scored))}


def dprime(auc: float) -> float:
  """Sensitivity index of two equal-variance Gaussians whose ROC has this area."""
  return float(math.sqrt(2) * stats.norm.ppf(auc))


def _error_rates(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  fpr, tpr, _ = sk.roc_curve(positive, score, drop_intermediate=False)
  return fpr, 1 - tpr


def eer(positive: np.ndarray, score: np.ndarray) -> float:
  """Equal error rate: where the miss and false-alarm rates cross, interpolated between ROC points."""
  fpr, fnr = _error_rates(positive, score)
  crossed = np.flatnonzero(fnr <= fpr)[0]  # fnr falls from 1 to 0 while fpr rises from 0 to 1
  if crossed == 0:
    return float(fpr[0])
  # Linear interpolation of fnr - fpr between the last point above and the first point at or below zero.
  before, after = fnr[crossed - 1] - fpr[crossed - 1], fnr[crossed] - fpr[crossed]
  t = before / (before - after)
  return float(fpr[crossed - 1] + t * (fpr[crossed] - fpr[crossed - 1]))


def min_dcf(positive: np.ndarray, score: np.ndarray, target_prior: float) -> float:
  """Minimum normalised detection cost over thresholds, C_miss = C_fa = 1."""
  fpr, fnr = _error_rates(positive, score)
  cost = target_prior * fnr + (1 - target_prior) * fpr
  return float(cost.min() / min(target_prior, 1 - target_prior))


def verification(target: np.ndarray, score: np.ndarray) -> dict:
  found = {"eer": eer(target, score), "auc": float(sk.roc_auc_score(target, score))}
  for prior in DCF_TARGET_PRIORS:
    found[f"min_dcf_p{prior:g}"] = min_dcf(target, score, prior)
  return found
