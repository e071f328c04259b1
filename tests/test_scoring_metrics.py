"""Metrics and normalisations against values known in closed form."""

import numpy as np
import pytest
from scipy import stats

from nossbench.scoring import metrics, normalization


@pytest.fixture(scope="module")
def gaussian_scores():
  """Non-targets ~ N(0, 1), targets ~ N(2, 1): EER = Φ(-1), AUC = Φ(2/√2), d′ = 2."""
  rng = np.random.RandomState(0)
  target = np.r_[np.ones(20000, bool), np.zeros(20000, bool)]
  return target, np.r_[rng.randn(20000) + 2, rng.randn(20000)]


def test_eer_auc_and_dprime_match_the_gaussian_theory(gaussian_scores):
  target, score = gaussian_scores
  found = metrics.binary(target, score)
  assert found["eer"] == pytest.approx(stats.norm.cdf(-1), abs=0.005)
  assert found["auc"] == pytest.approx(stats.norm.cdf(2 / np.sqrt(2)), abs=0.005)
  assert found["dprime"] == pytest.approx(2.0, abs=0.05)


def test_eer_interpolates_between_roc_points():
  # Targets 0.9, 0.4; non-targets 0.6, 0.1: at any threshold in (0.4, 0.6] one miss of two and one false
  # alarm of two: both rates are 1/2.
  assert metrics.eer(np.array([1, 1, 0, 0], bool), np.array([0.9, 0.4, 0.6, 0.1])) == pytest.approx(0.5)
  assert metrics.eer(np.array([1, 1, 0, 0], bool), np.array([0.9, 0.8, 0.2, 0.1])) == 0.0


def test_min_dcf_bounds_and_a_hand_computed_value(gaussian_scores):
  target, score = gaussian_scores
  perfect = np.where(target, 1.0, 0.0)
  assert metrics.min_dcf(target, perfect, 0.01) == 0.0
  # Scores unrelated to the target: the best threshold accepts nothing, costing P_target / min(P, 1-P) = 1.
  assert metrics.min_dcf(target, np.random.RandomState(1).rand(len(target)), 0.01) == pytest.approx(1.0, abs=0.01)
  # Targets 0.9, 0.4, non-targets 0.6, 0.1, P_target 0.5: normalised cost = P_miss + P_fa, which is 1 for
  # thresholds above 0.9, in (0.4, 0.6] or at most 0.1, and 0.5 in (0.6, 0.9] and (0.1, 0.4].
  found = metrics.min_dcf(np.array([1, 1, 0, 0], bool), np.array([0.9, 0.4, 0.6, 0.1]), 0.5)
  assert found == pytest.approx(0.5)


def test_classification_metrics_and_binary_extras():
  y_true = np.array([0, 0, 0, 0, 1, 1])
  y_pred = np.array([0, 0, 0, 1, 1, 0])
  scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6], [0.3, 0.7], [0.65, 0.35]])
  found = metrics.classification(y_true, y_pred, scores, 2)
  assert found["accuracy"] == pytest.approx(4 / 6)
  assert found["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2) / 2)  # UAR
  assert found["micro_f1"] == pytest.approx(4 / 6)
  assert found["auc"] == pytest.approx(7 / 8)  # positives outrank 7 of the 8 (positive, negative) pairs
  assert found["dprime"] == pytest.approx(np.sqrt(2) * stats.norm.ppf(7 / 8))


def test_multilabel_skips_classes_without_positives_and_counts_them():
  y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
  perfect = y.astype(float)
  found = metrics.multilabel(y, perfect)
  assert found == {"map": 1.0, "roc_auc": 1.0, "classes_scored": 2}
  reversed_scores = 1 - perfect
  assert metrics.multilabel(y, reversed_scores)["roc_auc"] == 0.0


def test_l2_and_per_speaker_normalisation():
  x = np.array([[3, 4, 5], [0, 0, 0], [1, 1, 2], [5, 1, 5], [9, 1, 5], [2, 7, 1]], np.float32)
  speakers = np.array(["s2", "s1", "s1", "s2", "s2", "s1"])
  unit = normalization.apply(x, "l2", speakers)
  assert np.allclose(np.linalg.norm(unit[[0, 2, 3, 4, 5]], axis=1), 1)
  assert np.array_equal(unit[1], [0, 0, 0])  # an all-zero example stays zero instead of becoming NaN
  z = normalization.apply(x, "speaker", speakers)
  assert np.allclose(z[speakers == "s1"].mean(axis=0), 0, atol=1e-6)
  assert np.allclose(z[speakers == "s1"].std(axis=0), 1)
  assert np.allclose(z[speakers == "s2"][:, :2].std(axis=0), 1)
  assert np.array_equal(z[speakers == "s2"][:, 2], [0, 0, 0])  # constant within s2: centred, std kept at 1
  assert np.allclose(z[0, 0], (3 - 17 / 3) / np.std([3, 5, 9]))  # rows keep their positions
  both = normalization.apply(x, "l2+speaker", speakers)
  assert np.allclose(both, normalization.per_speaker(normalization.l2(x), speakers))
