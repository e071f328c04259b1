"""The example table every scheme starts from: one row per example, `example_id`, `label` (or `labels`,
names joined with ';' for multi-label tasks), `speaker_id` ('' where unknown), `split`, and extras.
"""

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nossbench.tasks import LABEL_SEPARATOR, label_column

def labelled(table: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
  """One row per label of each example: the `keep` columns, `row` (the example's position) and `label`.

  A multi-label example gives a row per label and none when it has no labels; the split is done in
  Arrow, not in Python lists, so that 2M-example tables stay small.
  """
  column = label_column(table)
  if column == "label":
    rows, labels = np.arange(len(table)), table[column].array
  else:
    lists = pc.split_pattern(pa.array(table[column], pa.string()), LABEL_SEPARATOR)
    flat, parents = pc.list_flatten(lists), pc.list_parent_indices(lists)
    named = pc.not_equal(flat, "")
    rows, labels = parents.filter(named).to_numpy(), flat.filter(named).to_pandas().array
  return pd.DataFrame({name: table[name].array.take(rows) for name in keep} | {"row": rows, "label": labels})


def label_counts(table: pd.DataFrame, groups: np.ndarray, n_groups: int) -> np.ndarray:
  """[n_groups, n_labels] counts of each label's examples in each group (`groups`: a code per row)."""
  labels = labelled(table, [])
  codes, uniques = pd.factorize(labels["label"], sort=True)
  counts = np.zeros((n_groups, max(len(uniques), 1)), dtype=np.int64)
  np.add.at(counts, (groups[labels["row"].to_numpy()], codes), 1)
  return counts


def grouping(table: pd.DataFrame, column: str) -> tuple[np.ndarray, list[tuple[str, str]]]:
  """A group code per row, and each group's (kind, key), sorted.

  Rows sharing a non-empty value of `column` form ('group', value); a row whose value is empty has no
  group to leak and stands alone as ('example', example_id).
  """
  values = table[column].astype(str).to_numpy(dtype=object)
  ids = table["example_id"].to_numpy(dtype=object)
  keys = np.where(values == "", "1" + ids, "0" + values)
  codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=True)
  return codes, [("example", k[1:]) if k[0] == "1" else ("group", k[1:]) for k in uniques]


def distinct_cuts(n: int, k: int, cap: int) -> int:
  """min(C(n, k), cap): how many different ways to put k of n items aside, without computing a huge C."""
  if not 0 < k < n:
    return 1 if 0 <= k <= n else 0
  return cap if n >= cap else min(math.comb(n, k), cap)
