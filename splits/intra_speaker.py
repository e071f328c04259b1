"""Intra-speaker splits (NOSS `data_prep` semantics): each speaker's own examples cut into train and test.

A probe is then trained and tested on one speaker at a time. Each (repeat, speaker) draws its shuffle
from a seed derived from the seed, the repeat and the speaker id alone, so adding or removing a speaker
never changes the cut of another. Speakers with fewer examples than splits cannot be cut, and examples
without a speaker id belong to no speaker: both are returned, never dropped silently.
"""

import numpy as np
import pandas as pd

from nossbench import UserError, hashing, tasks
from nossbench.splits import examples

MIN_EXAMPLES = 2  # one for train, one for test


def held_out(n_examples: int, test_fraction: float) -> int:
  return min(n_examples - 1, max(1, int(round(test_fraction * n_examples))))


def intra_speaker_splits(table: pd.DataFrame, repeats: int = 5, test_fraction: float = 0.2,
                         seed: int = 0) -> tuple[pd.DataFrame, dict[str, int]]:
  """Returns (manifest rows with `split` train/test and `repeat`, {skipped speaker: example count}).

  Examples without a speaker id are counted under the skipped speaker ''.
  """
  label = tasks.label_column(table)
  rows, skipped = [], {}
  for speaker, group in table.groupby("speaker_id", sort=True):
    ids = np.sort(group["example_id"].to_numpy(dtype=object))
    if speaker == "" or len(ids) < MIN_EXAMPLES:
      skipped[speaker] = len(ids)
      continue
    n_test = held_out(len(ids), test_fraction)
    split = np.where(np.arange(len(ids)) < n_test, "test", "train")
    for repeat in range(repeats):
      order = np.random.RandomState(hashing.stable_uint32(seed, repeat, speaker)).permutation(len(ids))
      rows.append(pd.DataFrame({"example_id": ids[order], "split": split, "repeat": repeat}))
  if not rows:
    raise UserError(f"no speaker has {MIN_EXAMPLES} or more examples (skipped: {_listing(skipped)}); "
                    "the intra-speaker protocol needs speaker ids with several examples each.")
  cuts = pd.concat(rows, ignore_index=True)
  return cuts.merge(table[["example_id", label, "speaker_id"]], on="example_id", how="left"), skipped


def distinct_cuts(table: pd.DataFrame, test_fraction: float, cap: int) -> int:
  """How many distinct cuts (at most cap) the speaker with the most examples allows: the largest --repeats."""
  sizes = table.loc[table["speaker_id"] != "", "speaker_id"].value_counts()
  return max((examples.distinct_cuts(int(n), held_out(int(n), test_fraction), cap)
              for n in sizes if n >= MIN_EXAMPLES), default=0)


def label_coverage(cuts: pd.DataFrame) -> dict:
  """Per (repeat, speaker) cut: does its train part hold every label its test part asks for?

  Returns counts and, per speaker, the repeats whose test labels are missing from train.
  """
  labelled = examples.labelled(cuts, ["repeat", "speaker_id", "split"])
  present = labelled.groupby(["repeat", "speaker_id", "split"], sort=True)["label"].agg(frozenset)
  gaps = {}
  cut_keys = cuts[["repeat", "speaker_id"]].drop_duplicates().sort_values(["speaker_id", "repeat"])
  for repeat, speaker in cut_keys.itertuples(index=False):
    missing = present.get((repeat, speaker, "test"), frozenset()) - present.get((repeat, speaker, "train"), frozenset())
    if missing:
      gaps.setdefault(speaker, []).append(int(repeat))
  return {"cuts": len(cut_keys), "cuts_missing_a_test_label_in_train": sum(len(r) for r in gaps.values()),
          "speakers_with_gaps": gaps}


def _listing(counts: dict[str, int]) -> str:
  return ", ".join(f"{s or '(no speaker id)'} ({n})" for s, n in sorted(counts.items()))
