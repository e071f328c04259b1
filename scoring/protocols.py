"""The evaluation protocols, one function per split scheme, all choosing on validation data only.

- canonical: fit every (model, normalisation) on train, choose the best on validation, report its test
  scores (as the NOSS reference does; the chosen probe is not refit).
- lists (splits from supplied file lists): as canonical.
- speaker-disjoint repeats and k-fold: the same per repeat or fold, then mean ± std over them. A fold's
  validation data is the next fold; where a split has no validation rows, a seeded eighth of its train
  speakers (or rows, without speakers) is held out for it.
- intra-speaker: per speaker, fit on that speaker's train cut and test on its test cut, with the
  logistic regression and normalisation that did best on the canonical validation split (a speaker's
  cut has no validation data); accuracy averaged over speakers, then mean ± std over repeats.
- verification: cosine scores of trial pairs, no training (see `verification.py`).
"""

import collections
import dataclasses

import numpy as np
import pandas as pd
from sklearn.preprocessing import MultiLabelBinarizer

from nossbench import UserError, tasks
from nossbench.scoring import grid, intervals, linear_probe, metrics, models, normalization, predictions

SELECT_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "micro_f1", "auc", "map", "roc_auc")
VALIDATION_SHARE = 8  # one eighth of train is held out when a split has no validation rows


@dataclasses.dataclass
class Task:
  """One task's embeddings and labels in canonical-manifest order, and how to score it."""
  name: str
  table: pd.DataFrame
  x: np.ndarray
  seed: int = 0
  jobs: int = -1
  model_names: tuple = models.MODELS
  select_by: str | None = None
  probe: str = "grid"  # or linear_probe.NAME: one linear layer instead of the NOSS grid (HARES-size tasks)
  multilabel: bool = dataclasses.field(init=False)
  classes: list = dataclasses.field(init=False)
  y: np.ndarray = dataclasses.field(init=False)
  speakers: np.ndarray | None = dataclasses.field(init=False)
  notes: list = dataclasses.field(init=False, default_factory=list)

  def __post_init__(self):
    self.multilabel = tasks.label_column(self.table) == "labels"
    if self.multilabel:
      binarizer = MultiLabelBinarizer(sparse_output=True)  # dense int64 would take 8 GB at AudioSet's size
      found = binarizer.fit_transform([tasks.split_labels(s) for s in self.table["labels"]]).tocoo()
      self.y = np.zeros(found.shape, np.uint8)
      self.y[found.row, found.col] = 1
      self.classes = list(binarizer.classes_)
    else:
      self.classes = sorted(set(self.table["label"]))
      self.y = np.searchsorted(self.classes, self.table["label"].to_numpy())
    self.select_by = self.select_by or ("map" if self.multilabel else "accuracy")
    allowed = ("map", "roc_auc") if self.multilabel else \
        ("accuracy", "balanced_accuracy", "macro_f1", "micro_f1") + (("auc",) if len(self.classes) == 2 else ())
    if self.select_by not in allowed:
      raise UserError(f"--select-by {self.select_by} does not apply to {self.name}; choose among {', '.join(allowed)}")
    speaker_ids = self.table["speaker_id"].astype(str)
    if (speaker_ids == "").any() or not speaker_ids.duplicated().any():
      self.speakers = None
      self.notes.append("per-speaker normalisation left out: " + (
          "some examples have no speaker id" if (speaker_ids == "").any() else "no speaker has two examples"))
    else:
      self.speakers = pd.factorize(speaker_ids, sort=True)[0]
    self.positions = pd.Series(np.arange(len(self.table)), index=self.table["example_id"].to_numpy())

  @property
  def normalizations(self) -> tuple:
    if self.probe == linear_probe.NAME:
      return ("none",)  # the probe standardises with train statistics itself
    return normalization.NORMALIZATIONS if self.speakers is not None else ("none", "l2")

  @property
  def configs(self) -> list[tuple[str, str]]:
    if self.probe == linear_probe.NAME:
      return [(linear_probe.NAME, "none")]
    return [(m, n) for m in self.model_names if models.applicable(m, self.multilabel) for n in self.normalizations]

  def rows(self, ids, manifest_name: str) -> np.ndarray:
    unknown = ~pd.Index(ids).isin(self.positions.index)
    if unknown.any():
      raise UserError(f"the {manifest_name} manifest of {self.name} names {int(unknown.sum())} examples that "
                      f"its canonical manifest lacks (e.g. {list(pd.Index(ids)[unknown][:3])}); write both "
                      "again with prepare-splits")
    return self.positions[ids].to_numpy()

  def metrics(self, rows: np.ndarray, outcome: grid.Outcome, role: str) -> dict:
    if self.multilabel:
      return metrics.multilabel(self.y[rows], outcome.scores[role])
    return metrics.classification(self.y[rows], outcome.predictions[role], outcome.scores[role], len(self.classes))

  def test_intervals(self, rows: np.ndarray, outcome: grid.Outcome, point: dict) -> dict:
    """95% intervals of the test metrics (bootstrap of these predictions) and the predictions themselves."""
    speakers = self.table["speaker_id"].to_numpy()[rows]
    unit_ids = np.where(intervals.units(speakers)[1] == "speaker", speakers, self.table["example_id"].to_numpy()[rows])
    ids, truth = self.table["example_id"].to_numpy()[rows], self.y[rows]
    scores = outcome.scores["test"]
    if self.multilabel:
      boot = intervals.multilabel(truth, scores, speakers, self.seed)
      kept = predictions.keep(example_id=ids, label=truth, score=scores.astype(np.float32), unit=unit_ids)
    else:
      boot = intervals.classification(truth, outcome.predictions["test"], scores, speakers, len(self.classes),
                                      self.seed)
      names = np.asarray(self.classes, dtype=str)
      kept = predictions.keep(example_id=ids, label=names[truth], predicted=names[outcome.predictions["test"]],
                              score=scores[:, 1].astype(np.float32) if len(self.classes) == 2 else None,
                              unit=unit_ids)
    return {**intervals.summary(point, boot), **kept}

  def chance(self, train: np.ndarray, test: np.ndarray) -> dict:
    if self.multilabel:
      return {}
    majority = np.bincount(self.y[train], minlength=len(self.classes)).argmax()
    return {"chance_accuracy": float(np.mean(self.y[test] == majority))}


@dataclasses.dataclass
class Split:
  train: np.ndarray
  validation: np.ndarray
  test: np.ndarray
  validation_source: str = "validation split"


def _split(task: Task, rows: np.ndarray, splits: np.ndarray, where: str, carve: bool = True) -> Split:
  """The train/validation/test rows of one split; without validation rows, held-out train (if `carve`)."""
  named = {name: rows[splits == name] for name in tasks.SPLITS}
  others = sorted(set(splits) - set(named))
  if others:
    raise UserError(f"{where}: unknown split names {others} (expected train, validation, test)")
  for name in ("train", "test"):
    if not len(named[name]):
      raise UserError(f"{where} has no {name} examples: it cannot be scored")
  if len(named["validation"]) or not carve:
    return Split(named["train"], named["validation"], named["test"])
  return _carve_validation(task, named["train"], named["test"])


def _carve_validation(task: Task, train: np.ndarray, test: np.ndarray) -> Split:
  """Holds out a seeded eighth of the train speakers (or rows) for choosing the configuration."""
  rng = np.random.RandomState(task.seed)
  if task.speakers is not None and len(np.unique(task.speakers[train])) >= 2:
    speakers = np.unique(task.speakers[train])
    held = rng.permutation(speakers)[:max(1, len(speakers) // VALIDATION_SHARE)]
    mask = np.isin(task.speakers[train], held)
    source = f"{len(held)} of {len(speakers)} train speakers held out (seed {task.seed})"
  else:
    mask = np.zeros(len(train), bool)
    mask[rng.permutation(len(train))[:max(1, len(train) // VALIDATION_SHARE)]] = True
    source = f"{int(mask.sum())} of {len(train)} train examples held out (seed {task.seed})"
  return Split(train[~mask], train[mask], test, source)


def _fits(task: Task, split: Split) -> list[grid.Fit]:
  return [grid.Fit(m, n, split.train, (("validation", split.validation), ("test", split.test)))
          for m, n in task.configs]


def _run(task: Task, variants: grid.Variants, fits: list[grid.Fit], protocol: str) -> list[grid.Outcome]:
  return grid.run(variants, task.y, fits, task.seed, task.jobs, len(task.classes), task.multilabel,
                  f"{task.name} {protocol}")


def _choose(task: Task, split: Split, outcomes: list[grid.Outcome]) -> dict:
  """Picks the configuration with the best validation score (ties: the earlier one) and reports its test."""
  entries, best, best_score = [], None, -np.inf
  for (model, norm), outcome in zip(task.configs, outcomes):
    entry = {"model": model, "normalization": norm}
    if outcome.error:
      entry["error"] = outcome.error
    else:
      entry["validation"] = task.metrics(split.validation, outcome, "validation")
      entry["converged"] = outcome.converged
      score = entry["validation"][task.select_by]
      if not np.isnan(score) and score > best_score:
        best, best_score = len(entries), score
    entries.append(entry)
  if best is None:
    raise UserError(f"{task.name}: no probe configuration could be fit: {entries[0].get('error')}")
  chosen, outcome = entries[best], outcomes[best]
  test = task.metrics(split.test, outcome, "test")
  return {
      "model": chosen["model"], "normalization": chosen["normalization"],
      "selected_on": f"validation {task.select_by}", "validation_source": split.validation_source,
      **test, **task.test_intervals(split.test, outcome, test), **task.chance(split.train, split.test),
      "validation": chosen["validation"], "converged": chosen["converged"],
      "n_train": int(len(split.train)), "n_validation": int(len(split.validation)), "n_test": int(len(split.test)),
      "seed": task.seed, "grid": entries, **({"probe": outcome.probe} if outcome.probe else {}),
  }


def canonical(task: Task, variants: grid.Variants) -> dict:
  split = _split(task, np.arange(len(task.table)), task.table["split"].to_numpy(), f"{task.name} canonical manifest")
  return {"protocol": "canonical", **_choose(task, split, _run(task, variants, _fits(task, split), "canonical"))}


def _summary(results: list[dict], keys: list[str]) -> dict:
  """Mean and standard deviation over repeats or folds of every metric they all report."""
  summary = {}
  for key in keys:
    values = np.array([r[key] for r in results], float)
    summary[key], summary[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
  configs = {(r["model"], r["normalization"]) for r in results}
  model, norm = configs.pop() if len(configs) == 1 else ("varies", "varies")  # each part has its own choice
  return {"model": model, "normalization": norm, **summary}


def _per_part(task: Task, table: pd.DataFrame, column: str, protocol: str) -> list:
  parts = []
  for value, rows in table.groupby(column, sort=True):
    parts.append((value, _split(task, task.rows(rows["example_id"], protocol), rows["split"].to_numpy(),
                                f"{task.name} {protocol} manifest, {column} {value}")))
  return parts


def _repeated(task: Task, variants: grid.Variants, protocol: str, column: str, parts: list) -> dict:
  fits = [fit for _, split in parts for fit in _fits(task, split)]
  outcomes = _run(task, variants, fits, protocol)
  per_part, width = [], len(task.configs)
  for i, (value, split) in enumerate(parts):
    per_part.append({column: int(value), **_choose(task, split, outcomes[i * width:(i + 1) * width])})
  keys = [k for k, v in per_part[0].items() if isinstance(v, float) and k != "seed"]
  plural = "repeats" if column == "repeat" else "folds"
  return {"protocol": protocol, plural: len(per_part), **_summary(per_part, keys),
          **intervals.of_parts(per_part, keys), "selected_on":
          f"validation {task.select_by}, per {column}", "seed": task.seed, f"per_{column}": per_part}


def speaker_disjoint(task: Task, variants: grid.Variants, table: pd.DataFrame) -> dict:
  return _repeated(task, variants, "speaker_disjoint", "repeat",
                   _per_part(task, table, "repeat", "speaker_disjoint"))


def kfold(task: Task, variants: grid.Variants, table: pd.DataFrame) -> dict:
  """One copy of the examples per fold, that fold's own examples in test. A fold without validation rows
  uses the next fold's test examples (taken out of its train) when there are at least three folds."""
  copies = {fold: (task.rows(rows["example_id"], "kfold"), rows["split"].to_numpy())
            for fold, rows in table.groupby("fold", sort=True)}
  folds = list(copies)
  parts = []
  for i, fold in enumerate(folds):
    split = _split(task, *copies[fold], f"{task.name} kfold manifest, fold {fold}", carve=False)
    if not len(split.validation) and len(folds) >= 3:
      following = folds[(i + 1) % len(folds)]
      rows, splits = copies[following]
      validation = rows[splits == "test"]
      split = Split(split.train[~np.isin(split.train, validation)], validation, split.test,
                    f"fold {following}'s test examples (the next fold)")
    elif not len(split.validation):
      split = _carve_validation(task, split.train, split.test)
    parts.append((fold, split))
  return _repeated(task, variants, "kfold", "fold", parts)


def lists(task: Task, variants: grid.Variants, table: pd.DataFrame) -> dict:
  """Splits imported from supplied file lists (prepare-splits --from-lists): scored like canonical."""
  split = _split(task, task.rows(table["example_id"], "lists"), table["split"].to_numpy(),
                 f"{task.name} lists manifest")
  return {"protocol": "lists", **_choose(task, split, _run(task, variants, _fits(task, split), "lists"))}


def intra_speaker_config(canonical_result: dict, select_by: str) -> tuple[str, str]:
  """The logistic regression and normalisation that did best on the canonical validation split.

  A speaker's train cut holds a few examples per class: too few for forests, and LDA's cost in high
  dimensions would be paid once per speaker and repeat. Without a logistic regression in the grid, the
  canonical choice itself is used.
  """
  linear = [e for e in canonical_result["grid"] if e["model"].startswith("logreg") and "validation" in e]
  if not linear:
    return canonical_result["model"], canonical_result["normalization"]
  best = max(linear, key=lambda e: (np.nan_to_num(e["validation"][select_by], nan=-1), -linear.index(e)))
  return best["model"], best["normalization"]


def intra_speaker(task: Task, variants: grid.Variants, cuts: pd.DataFrame, config: tuple[str, str]) -> dict:
  model, norm = config
  if task.multilabel:
    raise UserError(f"{task.name} is multi-label: the intra-speaker protocol scores single-label tasks only")
  if norm not in task.normalizations:
    norm = "l2" if norm.startswith("l2") else "none"
  fits, keys, skipped = [], [], collections.defaultdict(list)
  for (repeat, speaker), rows in cuts.groupby(["repeat", "speaker_id"], sort=True):
    positions = task.rows(rows["example_id"], "intra_speaker")
    train = positions[(rows["split"] == "train").to_numpy()]
    test = positions[(rows["split"] == "test").to_numpy()]
    if len(np.unique(task.y[train])) < 2 or not len(test):
      skipped[speaker].append(int(repeat))
      continue
    fits.append(grid.Fit(model, norm, train, (("test", test),)))
    keys.append((int(repeat), speaker))
  outcomes = _run(task, variants, fits, "intra-speaker")
  by_repeat, by_speaker, failed = collections.defaultdict(list), collections.defaultdict(list), {}
  for (repeat, speaker), fit, outcome in zip(keys, fits, outcomes):
    if outcome.error:
      failed[f"{speaker}/{repeat}"] = outcome.error
      continue
    accuracy = float(np.mean(outcome.predictions["test"] == task.y[fit.evaluate[0][1]]))
    by_repeat[repeat].append(accuracy)
    by_speaker[speaker].append(accuracy)
  per_repeat = [float(np.mean(by_repeat[r])) for r in sorted(by_repeat)]
  return {**_intra_interval(per_repeat, by_speaker, task.seed),
      "protocol": "intra_speaker", "model": model, "normalization": norm,
      "selected_on": f"canonical validation {task.select_by}, among logistic regressions (a speaker's cut has "
                     "no validation data)",
      "accuracy": float(np.mean(per_repeat)) if per_repeat else float("nan"),
      "accuracy_std": float(np.std(per_repeat)) if per_repeat else float("nan"),
      "per_repeat_accuracy": per_repeat, "repeats": len(per_repeat), "speakers": len(by_speaker),
      "n_fits": len(fits) - len(failed), "n_examples": int(cuts["example_id"].nunique()),
      "per_speaker_accuracy": {s: float(np.mean(a)) for s, a in sorted(by_speaker.items())},
      "skipped_single_class_train": dict(sorted(skipped.items())), "failed": failed, "seed": task.seed,
  }


def _intra_interval(per_repeat: list[float], by_speaker: dict, seed: int) -> dict:
  """The interval of the mean over repeats; with one repeat, a bootstrap over the speakers' accuracies."""
  if len(per_repeat) >= 2:
    return {"accuracy_ci": intervals.of_mean(per_repeat), "interval": {
        "level": intervals.LEVEL, "method": f"Student t interval of the mean over {len(per_repeat)} repeats"}}
  accuracy = np.array([np.mean(a) for _, a in sorted(by_speaker.items())])
  if not len(accuracy):
    return {"accuracy_ci": [float("nan")] * 2}
  boot = intervals.bootstrap(lambda w: {"accuracy": w @ accuracy / w.sum(1)}, len(accuracy), seed)
  return {"accuracy_ci": intervals.percentile(boot["accuracy"]), "interval": {
      "level": intervals.LEVEL, "method": "percentile bootstrap over speakers", "unit": "speaker",
      "n_units": len(accuracy), "replicates": len(boot["accuracy"])}}
