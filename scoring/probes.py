"""Linear probes on frozen embeddings (the NOSS protocol): fit on train, choose on validation, report test."""

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
INTRA_SPEAKER_C = 1.0


def _probe(c: float, seed: int):
  return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))


def canonical(x: np.ndarray, table: pd.DataFrame, seed: int = 0) -> dict:
  """Chooses C on validation accuracy, then reports the test scores of the model fit on train."""
  labels, split = table["label"].to_numpy(), table["split"].to_numpy()
  train, validation, test = (split == "train"), (split == "validation"), (split == "test")
  fits = {c: _probe(c, seed).fit(x[train], labels[train]) for c in C_GRID}
  validation_accuracy = {c: accuracy_score(labels[validation], fit.predict(x[validation])) for c, fit in fits.items()}
  best_c = max(C_GRID, key=lambda c: (validation_accuracy[c], -abs(np.log10(c))))
  predicted = fits[best_c].predict(x[test])
  majority = pd.Series(labels[train]).value_counts().index[0]
  return {
      "protocol": "canonical", "model": "logistic_regression", "normalization": "standardize",
      "selected_on": "validation", "C": best_c, "validation_accuracy": validation_accuracy[best_c],
      "accuracy": accuracy_score(labels[test], predicted),
      "balanced_accuracy": balanced_accuracy_score(labels[test], predicted),
      "chance_accuracy": float(np.mean(labels[test] == majority)),
      "n_train": int(train.sum()), "n_validation": int(validation.sum()), "n_test": int(test.sum()), "seed": seed,
  }


def intra_speaker(x: np.ndarray, positions: dict[str, int], cuts: pd.DataFrame, seed: int = 0) -> dict:
  """Per speaker: fit on that speaker's train cut, test on its test cut. Mean over speakers, then over repeats."""
  per_repeat, per_speaker, skipped = [], {}, {}
  for repeat, repeat_rows in cuts.groupby("repeat", sort=True):
    accuracies = []
    for speaker, rows in repeat_rows.groupby("speaker_id", sort=True):
      rows_x = x[[positions[i] for i in rows["example_id"]]]
      train = (rows["split"] == "train").to_numpy()
      labels = rows["label"].to_numpy()
      if len(set(labels[train])) < 2:
        skipped.setdefault(speaker, []).append(int(repeat))
        continue
      fit = _probe(INTRA_SPEAKER_C, seed).fit(rows_x[train], labels[train])
      accuracy = accuracy_score(labels[~train], fit.predict(rows_x[~train]))
      accuracies.append(accuracy)
      per_speaker.setdefault(speaker, []).append(accuracy)
    if accuracies:
      per_repeat.append(float(np.mean(accuracies)))
  return {
      "protocol": "intra_speaker", "model": "logistic_regression", "normalization": "standardize",
      "C": INTRA_SPEAKER_C, "accuracy": float(np.mean(per_repeat)) if per_repeat else float("nan"),
      "accuracy_std": float(np.std(per_repeat)) if per_repeat else float("nan"),
      "repeats": len(per_repeat), "speakers": len(per_speaker),
      "per_speaker_accuracy": {s: float(np.mean(a)) for s, a in sorted(per_speaker.items())},
      "skipped_single_class_train": skipped, "seed": seed,
  }
