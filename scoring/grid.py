"""Fitting a grid of probe configurations fast without changing a single number.

The reference fits each (model, normalisation) configuration from scratch, one after another, reading
and normalising the data again each time, with scikit-learn's default threading. Here:
- each normalised variant of the embeddings is computed once and shared with every fit through a
  read-only memory map (no copies sent to workers);
- every fit of a protocol (all configurations, all repeats or folds, all speakers) is an independent
  job, and the jobs run in parallel worker processes on all cores, slowest first;
- each job runs single-threaded (BLAS included), so the numbers cannot depend on the number of workers
  or cores, and many parallel fits never fight over threads;
- forests train on a column-major copy of their rows (see `_run`).
The estimators, their settings and the data they see are the reference's, so the predictions are too.
"""

import dataclasses
import tempfile
import warnings

import joblib
import numpy as np
import tqdm
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from nossbench.scoring import linear_probe, models, normalization

SMALL_WORK = 2_000_000  # train rows x dimensions summed over the fits, under which fits run in-process


@dataclasses.dataclass(frozen=True)
class Fit:
  """One job: fit `model` on the `train` rows of the `normalization` variant, predict the evaluated rows."""
  model: str
  normalization: str
  train: np.ndarray
  evaluate: tuple  # ((name, rows), ...)


@dataclasses.dataclass
class Outcome:
  scores: dict  # name -> [n, n_classes] class probabilities (multi-label: of each class being present)
  predictions: dict  # name -> [n] predicted class codes (single-label only)
  converged: bool | None = None  # False when a logistic regression stopped at its iteration limit
  error: str | None = None  # why the fit failed (e.g. LDA on a class with one example)
  probe: dict | None = None  # how the linear probe trained (epochs, early stopping); None for the NOSS grid


class Variants:
  """The normalised copies of the embeddings, each written once to a temporary memory-mapped file."""

  def __init__(self, x: np.ndarray, speakers: np.ndarray | None, names):
    self._folder = tempfile.TemporaryDirectory(prefix="nossbench-scoring-")
    self.arrays = {}
    for i, name in enumerate(names):
      if name == "none" and isinstance(x, np.memmap) and x.dtype == np.float32:
        self.arrays[name] = x  # already float32 on disk: a second copy would double the disk and page cache
        continue
      path = f"{self._folder.name}/{i}.npy"
      np.save(path, normalization.apply(x, name, speakers))
      self.arrays[name] = np.load(path, mmap_mode="r")

  def close(self):
    self.arrays.clear()
    self._folder.cleanup()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def _converged(model) -> bool | None:
  fitted = [m for m in getattr(model, "estimators_", [model]) if hasattr(m, "n_iter_")]  # logistic regressions
  return all(int(np.max(m.n_iter_)) < m.max_iter for m in fitted) if fitted else None


def _probabilities(model, x: np.ndarray, n_classes: int, multilabel: bool) -> np.ndarray:
  proba = model.predict_proba(x)
  if multilabel and isinstance(proba, list):  # multi-output forest: one [n, k] array per class
    return np.stack([p[:, list(c).index(1)] if 1 in c else np.zeros(len(x))
                     for p, c in zip(proba, model.classes_)], axis=1)
  if multilabel:
    return proba
  full = np.zeros((len(x), n_classes))
  full[:, model.classes_] = proba  # classes absent from train get probability 0
  return full


def _run(x: np.ndarray, y: np.ndarray, fit: Fit, seed: int, n_classes: int, multilabel: bool) -> Outcome:
  if fit.model == linear_probe.NAME:
    result = linear_probe.fit(x, y, fit.train, dict(fit.evaluate)["validation"], fit.evaluate, n_classes,
                              multilabel, seed)
    return Outcome(result.scores, result.predictions, probe=result.info)
  with threadpool_limits(1), warnings.catch_warnings():
    # The reference's 100 lbfgs iterations often stop short of convergence; reported as `converged`.
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
    model = models.make(fit.model, seed, multilabel)
    train_x = x[fit.train]
    if fit.model in models.FORESTS:
      # A tree reads one feature of many examples at a time: column-major rows make those reads
      # contiguous (~10% faster fits here), and the trees, thus every number, are the same.
      train_x = np.asfortranarray(train_x)
    try:
      model.fit(train_x, y[fit.train])
    except (ValueError, np.linalg.LinAlgError) as error:
      return Outcome({}, {}, error=f"{type(error).__name__}: {error}")
    outcome = Outcome({}, {}, converged=_converged(model))
    for name, rows in fit.evaluate:
      rows_x = x[rows]
      outcome.scores[name] = _probabilities(model, rows_x, n_classes, multilabel)
      if not multilabel:
        outcome.predictions[name] = model.predict(rows_x)
    return outcome


def run(variants: Variants, y: np.ndarray, fits: list[Fit], seed: int, jobs: int, n_classes: int,
        multilabel: bool, description: str = "fitting probes") -> list[Outcome]:
  """Runs the fits on `jobs` worker processes (-1: all cores); returns their outcomes in the given order.

  Small grids run in this process: starting workers would take longer than the fits.
  """
  order = sorted(range(len(fits)), key=lambda i: (-models.COST[fits[i].model], -len(fits[i].train), i))
  dims = next(iter(variants.arrays.values())).shape[1]
  if sum(len(f.train) for f in fits) * dims < SMALL_WORK or any(f.model == linear_probe.NAME for f in fits):
    jobs = 1  # the linear probe uses every core itself (PyTorch threads) or the GPU
  outcomes = joblib.Parallel(n_jobs=jobs, return_as="generator")(
      joblib.delayed(_run)(variants.arrays[fits[i].normalization], y, fits[i], seed, n_classes, multilabel)
      for i in order)
  restored = [None] * len(fits)
  for i, outcome in zip(order, tqdm.tqdm(outcomes, total=len(fits), desc=description, unit="fit", disable=None)):
    restored[i] = outcome
  return restored
