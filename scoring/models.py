"""The probe models of the NOSS reference evaluation (google-research non_semantic_speech_benchmark).

Same estimators and settings as the reference: nearly unregularised multinomial logistic regression
(C=1e5, lbfgs, scikit-learn's default 100 iterations), its class-balanced twin, LDA with the lsqr solver
and Ledoit-Wolf shrinkage, and 100-tree random forests with and without class balancing. The reference
leaves the forests unseeded; here they take the run's seed so that scores repeat. Multi-label tasks use
one-vs-rest logistic regressions and multi-output forests; LDA has no multi-label form and is left out.
"""

from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

MODELS = ("logreg", "logreg_balanced", "lda", "forest_balanced", "forest")
FORESTS = ("forest_balanced", "forest")
DESCRIPTIONS = {
    "logreg": "logistic regression (C=1e5)",
    "logreg_balanced": "class-balanced logistic regression (C=1e5)",
    "lda": "LDA (lsqr, Ledoit-Wolf shrinkage)",
    "forest_balanced": "class-balanced random forest (100 trees)",
    "forest": "random forest (100 trees)",
    "linear": "linear layer (PyTorch, minibatch Adam, early stopping on validation; see linear_probe.py)",
}
# Relative fitting cost, to start the slowest fits first when they run in parallel.
COST = {"forest_balanced": 3, "forest": 3, "lda": 2, "logreg": 1, "logreg_balanced": 1, "linear": 1}


def applicable(name: str, multilabel: bool) -> bool:
  return not (multilabel and name == "lda")


def make(name: str, seed: int, multilabel: bool = False):
  """A fresh, unfitted estimator. Everything runs single-threaded: parallelism is across fits."""
  if name in ("logreg", "logreg_balanced"):
    model = LogisticRegression(C=1e5, solver="lbfgs", class_weight="balanced" if name.endswith("balanced") else None)
    return OneVsRestClassifier(model) if multilabel else model
  if name == "lda" and not multilabel:
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
  if name in ("forest", "forest_balanced"):
    return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1,
                                  class_weight="balanced" if name.endswith("balanced") else None)
  raise ValueError(f"unknown or inapplicable model {name!r} (multi-label: {multilabel}); known: {', '.join(MODELS)}")
