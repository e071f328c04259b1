"""Intra-speaker splits (NOSS `data_prep` semantics): each speaker's own examples cut into train and test.

A probe is then trained and tested on one speaker at a time. Each (repeat, speaker) draws its shuffle
from a seed derived from the seed, the repeat and the speaker id alone, so adding or removing a speaker
never changes the cut of another. Speakers with fewer examples than splits cannot be cut: they are
skipped and returned, never dropped silently.
"""

import hashlib

import numpy as np
import pandas as pd

MIN_EXAMPLES = 2  # one for train, one for test


def _speaker_seed(seed: int, repeat: int, speaker: str) -> int:
  digest = hashlib.sha256(f"{seed}/{repeat}/{speaker}".encode("utf-8")).digest()
  return int.from_bytes(digest[:4], "little")


def intra_speaker_splits(table: pd.DataFrame, repeats: int = 5, test_fraction: float = 0.2,
                         seed: int = 0) -> tuple[pd.DataFrame, dict[str, int]]:
  """Returns (manifest rows with `split` train/test and `repeat`, {skipped speaker: example count})."""
  rows, skipped = [], {}
  for speaker, group in table.groupby("speaker_id", sort=True):
    ids = np.sort(group["example_id"].to_numpy())
    if len(ids) < MIN_EXAMPLES:
      skipped[speaker] = len(ids)
      continue
    n_test = min(len(ids) - 1, max(1, int(round(test_fraction * len(ids)))))
    for repeat in range(repeats):
      order = np.random.RandomState(_speaker_seed(seed, repeat, speaker)).permutation(len(ids))
      split = np.where(np.arange(len(ids)) < n_test, "test", "train")
      rows.append(pd.DataFrame({"example_id": ids[order], "split": split, "repeat": repeat}))
  if not rows:
    return pd.DataFrame(columns=["example_id", "label", "speaker_id", "split", "repeat"]), skipped
  cuts = pd.concat(rows, ignore_index=True)
  merged = cuts.merge(table[["example_id", "label", "speaker_id"]], on="example_id", how="left")
  return merged, skipped
