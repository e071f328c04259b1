"""Random speaker-disjoint train/test splits: the NOSS paper's five random splits for tasks without
canonical ones. No speaker is in both train and test of a repeat.

Each repeat walks the speakers in a seeded random order and puts a speaker into test when that brings
the test part closer to `test_fraction` of all examples and of every label's examples (a greedy
stratification: scikit-learn's GroupShuffleSplit does not stratify, and StratifiedGroupKFold only cuts
1/k). Where a label belongs to few speakers (VoxCeleb: one) it cannot be matched; the size still is.
With `hash_assign`, a speaker's side depends only on its id, the seed and the repeat, so adding data
never moves existing speakers (at the cost of stratification).

Examples without a speaker id stand alone: each is placed as if it were its own speaker.
"""

import numpy as np
import pandas as pd

from nossbench import UserError, hashing
from nossbench.splits import examples


def distinct_splits(n_groups: int, test_fraction: float, cap: int) -> int:
  """How many different test sets of about test_fraction of n_groups there are (at most cap)."""
  if n_groups < 2:
    return 0
  return examples.distinct_cuts(n_groups, min(n_groups - 1, max(1, round(test_fraction * n_groups))), cap)


def allowed_repeats(table: pd.DataFrame, test_fraction: float, cap: int) -> int:
  """How many distinct speaker-disjoint splits (at most cap) the table's speakers allow."""
  _, groups = examples.grouping(table, "speaker_id")
  return distinct_splits(len(groups), test_fraction, cap)


def speaker_disjoint_splits(table: pd.DataFrame, repeats: int = 5, test_fraction: float = 0.2, seed: int = 0,
                            hash_assign: bool = False) -> pd.DataFrame:
  """Returns the manifest rows: every example once per repeat, `split` train or test, `repeat`."""
  table = table.sort_values("example_id", ignore_index=True)
  codes, groups = examples.grouping(table, "speaker_id")
  if not any(kind == "group" for kind, _ in groups):
    raise UserError("this task has no speaker ids, so it has no speaker-disjoint splits; use --kfold K "
                    "(grouped by another column with --group) or the canonical splits.")
  allowed = distinct_splits(len(groups), test_fraction, repeats)
  if repeats > allowed:
    raise UserError(f"--repeats {repeats} asks for more speaker-disjoint splits than {len(groups)} speakers "
                    f"allow at --test-fraction {test_fraction} ({allowed} distinct test sets); lower --repeats.")
  sizes = np.bincount(codes, minlength=len(groups))
  counts = examples.label_counts(table, codes, len(groups))
  parts = []
  for repeat in range(repeats):
    if hash_assign:
      in_test = np.array([hashing.stable_unit("speaker_disjoint", seed, repeat, kind, key) < test_fraction
                          for kind, key in groups])
      if in_test.all() or not in_test.any():
        raise UserError(f"--hash-assign put every one of the {len(groups)} speakers into "
                        f"{'test' if in_test.all() else 'train'} in repeat {repeat}: too few speakers for "
                        "hash assignment; drop --hash-assign or change --seed.")
    else:
      order = np.random.RandomState(hashing.stable_uint32("speaker_disjoint", seed, repeat)).permutation(len(groups))
      in_test = _stratified_test_groups(counts, sizes, test_fraction, order)
    parts.append(table.assign(split=np.where(in_test[codes], "test", "train"), repeat=repeat))
  return pd.concat(parts, ignore_index=True)


def _stratified_test_groups(counts: np.ndarray, sizes: np.ndarray, fraction: float,
                            order: np.ndarray) -> np.ndarray:
  """Greedy, in `order`: first take a group into test when it brings the test size closer to its target
  without taking any label's share further from it (labels weigh by their own totals, so rare ones
  count); then, while test is still short, whenever it lowers the sum of the two."""
  totals = np.maximum(counts.sum(0), 1)
  label_target, size_target = fraction * counts.sum(0), fraction * sizes.sum()
  test_counts, test_size = np.zeros(counts.shape[1]), 0
  in_test = np.zeros(len(sizes), dtype=bool)

  def distances(label_counts, size):
    return np.abs(label_counts - label_target).dot(1.0 / totals), abs(size - size_target)

  def combined(label_distance, size_distance):  # each as a fraction: mean over labels, share of all examples
    return label_distance / len(totals) + size_distance / sizes.sum()

  for strict in (True, False):
    label_distance, size_distance = distances(test_counts, test_size)
    for group in order[~in_test[order]]:
      new_label, new_size = distances(test_counts + counts[group], test_size + sizes[group])
      if strict:
        take = new_size < size_distance and new_label <= label_distance
      else:
        take = combined(new_label, new_size) < combined(label_distance, size_distance)
      if take:
        in_test[group], label_distance, size_distance = True, new_label, new_size
        test_counts, test_size = test_counts + counts[group], test_size + sizes[group]
  if not in_test.any():  # one group outweighs the whole target: test still needs a speaker
    in_test[order[0]] = True
  return in_test
