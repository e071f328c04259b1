"""Turns cache entries (e.g. all splits of one layer) into one submission file: .npz or .parquet.

Pooled entries give `example_id` [N] and `embedding` [N, D] (.npz), or an `example_id` string column and
an `embedding` list<float32> column (.parquet); both are what `score-submission` reads. Frame-level
entries (pooling `none`) give, in .npz, `embedding` [total frames, D] holding every clip's frames one
clip after another in example_id order and `num_frames` [N]; in .parquet, `embedding` is
list<list<float32>> (frames x dims) per row. Those are for pooling of one's own: the scorer takes one
vector per example. Rows are sorted by example_id; arrays are plain (np.load with allow_pickle=False).
"""

import os

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.pipelines import cache

FORMATS = (".npz", ".parquet")


def write(keys: list[cache.EntryKey], cache_root, out_path) -> int:
  """Writes the records of the entries `keys` to `out_path` (format from its suffix); returns the count."""
  records = sorted((r for key in keys for r in cache.read_entry_records(key.path(cache_root))),
                   key=lambda r: r["example_id"])
  ids = [r["example_id"] for r in records]
  repeated = sorted({a for a, b in zip(ids, ids[1:]) if a == b})
  if repeated:
    raise UserError(f"example ids {', '.join(repeated[:5])} appear in more than one of the exported entries")
  frame_level = any(key.pooling == "none" for key in keys)
  vectors = [r["embedding"].reshape(r["embedding"].shape[0], -1) if frame_level else r["embedding"]
             for r in records]
  out_path = epath.Path(out_path)
  if out_path.suffix not in FORMATS:
    raise UserError(f"{out_path}: choose a .npz or .parquet file name")
  out_path.parent.mkdir(parents=True, exist_ok=True)
  # whole or not at all: a run killed while exporting leaves no file that looks like a submission
  temporary = out_path.parent / f"{cache.TEMPORARY_PREFIX}{os.getpid()}-{out_path.name}"
  (write_npz if out_path.suffix == ".npz" else write_parquet)(temporary, ids, vectors, frame_level)
  temporary.replace(out_path)
  return len(ids)


def write_npz(out_path: epath.Path, ids: list[str], vectors: list[np.ndarray], frame_level: bool) -> None:
  arrays = {"example_id": np.array(ids, dtype=str)}
  if frame_level:
    arrays["num_frames"] = np.array([len(v) for v in vectors], np.int64)
  dims = vectors[0].shape[-1] if vectors else 0
  stack = np.concatenate if frame_level else np.stack
  arrays["embedding"] = stack(vectors).astype(np.float32) if vectors else np.zeros((0, dims), np.float32)
  with out_path.open("wb") as f:
    np.savez(f, **arrays)


def write_parquet(out_path: epath.Path, ids: list[str], vectors: list[np.ndarray], frame_level: bool) -> None:
  import pyarrow as pa  # pylint: disable=import-outside-toplevel
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

  def offsets(lengths):
    return pa.array(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int32))

  values = pa.array(np.concatenate([v.ravel() for v in vectors]) if vectors else np.zeros(0), pa.float32())
  if frame_level:
    frames = pa.ListArray.from_arrays(offsets([v.shape[1] for v in vectors for _ in range(len(v))]), values)
    embedding = pa.ListArray.from_arrays(offsets([len(v) for v in vectors]), frames)
  else:
    embedding = pa.ListArray.from_arrays(offsets([len(v) for v in vectors]), values)
  table = pa.table({"example_id": pa.array(ids, pa.string()), "embedding": embedding})
  with out_path.open("wb") as f:
    pq.write_table(table, f)
