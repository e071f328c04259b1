"""Turns cache entries into a submission file for `score-submission`."""

import numpy as np
from etils import epath

from nossbench.pipelines import cache


def write_npz(keys: list[cache.EntryKey], cache_root, out_path) -> int:
  """Concatenates the entries (e.g. all splits of one layer) into `example_id` and `embedding` arrays."""
  ids, vectors = [], []
  for key in keys:
    entry_ids, entry_vectors = cache.read_entry(key.path(cache_root))
    ids.extend(entry_ids)
    vectors.append(entry_vectors)
  embedding = np.concatenate(vectors).astype(np.float32)
  out_path = epath.Path(out_path)
  out_path.parent.mkdir(parents=True, exist_ok=True)
  with out_path.open("wb") as f:
    # Plain unicode and float arrays: readable with np.load(..., allow_pickle=False).
    np.savez(f, example_id=np.array(ids, dtype=str), embedding=embedding)
  return len(ids)
