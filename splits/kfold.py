"""K-fold cross-validation splits: each example is in test in exactly one of the k folds.

A task with its own `fold` feature (ESC-50: clips of one source recording share a fold) keeps those
folds. Otherwise scikit-learn cuts them: StratifiedGroupKFold (labels balanced, no group in two folds),
GroupKFold for multi-label tasks, StratifiedKFold or KFold when nothing groups the examples. With
`hash_assign` a group's fold depends only on its key and the seed. Rows whose group value is empty
stand alone.
"""

import warnings

import numpy as np
import pandas as pd

from nossbench import UserError, hashing, tasks
from nossbench.splits import examples

OWN_FOLDS = "fold"  # the feature that carries a dataset's own folds


def own_folds(table: pd.DataFrame, k: int, task: str) -> np.ndarray:
  """The dataset's fold numbers, once k matches them."""
  values = table[OWN_FOLDS]
  try:
    folds = values.astype(int).to_numpy()
  except ValueError as error:
    raise UserError(f"{task}: its `{OWN_FOLDS}` feature holds {values.iloc[0]!r}, not fold numbers.") from error
  found = np.unique(folds)
  if len(found) != k:
    raise UserError(f"{task} ships its own {len(found)} folds ({', '.join(map(str, found))}, feature "
                    f"`{OWN_FOLDS}`); use --kfold {len(found)}.")
  return folds


def kfold_splits(table: pd.DataFrame, k: int, seed: int = 0, group_column: str | None = None,
                 hash_assign: bool = False, task: str = "") -> tuple[pd.DataFrame, list[str]]:
  """Returns (manifest rows: every example once per fold, `split` test in its own fold, `fold`, `group`;
  notes from the splitter). A `fold` column in `table` means the dataset's own folds."""
  table = table.sort_values("example_id", ignore_index=True)
  if OWN_FOLDS in table.columns:
    folds, notes = own_folds(table, k, task), []
  else:
    folds, notes = _assign_folds(table, k, seed, group_column, hash_assign)
  base = table.drop(columns=[OWN_FOLDS], errors="ignore").assign(
      group=table[group_column].astype(str) if group_column else "")
  rows = pd.concat([base.assign(split=np.where(folds == fold, "test", "train"), fold=int(fold))
                    for fold in np.unique(folds)], ignore_index=True)
  return rows, notes


def _assign_folds(table: pd.DataFrame, k: int, seed: int, group_column: str | None,
                  hash_assign: bool) -> tuple[np.ndarray, list[str]]:
  if group_column:
    codes, groups = examples.grouping(table, group_column)
    if not any(kind == "group" for kind, _ in groups):
      group_column = None  # nothing to group: the examples stand alone
  if not group_column:
    codes, groups = np.arange(len(table)), [("example", i) for i in table["example_id"]]
  if len(groups) < k:
    what = f"groups of `{group_column}`" if group_column else "examples"
    other = " or choose another --group (grouping by speaker is the default; `none` cuts without it)"
    lower = f"lower --kfold to {len(groups)} or less" if len(groups) >= 2 else "k-fold is not possible"
    raise UserError(f"--kfold {k} needs at least {k} {what}; this task has {len(groups)}: {lower}"
                    f"{other if group_column else ''}.")
  if hash_assign:
    fold_of_group = np.array([int(hashing.stable_unit("kfold", seed, kind, key) * k) for kind, key in groups])
    empty = sorted(set(range(k)) - set(fold_of_group.tolist()))
    if empty:
      raise UserError(f"--hash-assign left fold {empty[0]} of {k} empty ({len(groups)} groups); drop "
                      "--hash-assign, lower --kfold or change --seed.")
    return fold_of_group[codes], []
  from sklearn import model_selection  # pylint: disable=import-outside-toplevel  (slow to import; --check needs none)

  label = tasks.label_column(table)
  y = pd.factorize(table[label], sort=True)[0] if label == "label" else None
  if group_column:
    splitter = (model_selection.StratifiedGroupKFold if y is not None else model_selection.GroupKFold)(
        n_splits=k, shuffle=True, random_state=seed)
  else:
    splitter = (model_selection.StratifiedKFold if y is not None else model_selection.KFold)(
        n_splits=k, shuffle=True, random_state=seed)
  folds = np.full(len(table), -1)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
      for fold, (_, test) in enumerate(splitter.split(np.zeros((len(table), 1)), y, codes)):
        folds[test] = fold
    except ValueError as error:
      raise UserError(f"--kfold {k}: {error}") from error
  return folds, sorted({str(w.message) for w in caught})

