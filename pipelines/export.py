"""Turns cache entries (e.g. all splits of one layer) into one submission file: .npz or .parquet.

Pooled entries give `example_id` [N] and `embedding` [N, D] (.npz), or an `example_id` string column and
an `embedding` list<float32> column (.parquet); both are what `score-submission` reads. Frame-level
entries (pooling `none`) give, in .npz, `embedding` [total frames, D] holding every clip's frames one
clip after another in example_id order and `num_frames` [N]; in .parquet, `embedding` is
list<list<float32>> (frames x dims) per row. Those are for pooling of one's own: the scorer takes one
vector per example. Rows are sorted by example_id; arrays are plain (np.load with allow_pickle=False).

The vectors are streamed, never gathered: every shard is already sorted by example id, so a merge of the
shards gives the rows in order while holding one record per shard; the .npz is written as np.savez writes
it (stored zip members of .npy arrays), its embedding member row by row after a first pass that counts the
rows. Memory holds the ids, not the embeddings (AudioSet at 2,048 dims would be 16 GB).
"""

import heapq
import os
import zipfile

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.pipelines import cache, cache_format

FORMATS = (".npz", ".parquet")
PARQUET_ROWS = 8192  # rows per Parquet row group


def write(keys: list[cache.EntryKey], cache_root, out_path) -> int:
  """Writes the records of the entries `keys` to `out_path` (format from its suffix); returns the count."""
  out_path = epath.Path(out_path)
  if out_path.suffix not in FORMATS:
    raise UserError(f"{out_path}: choose a .npz or .parquet file name")
  frame_level = any(key.pooling == "none" for key in keys)
  ids, shapes = [], set()
  for record in _records(keys, cache_root):  # first pass: ids, shapes, repeated ids
    if ids and record["example_id"] == ids[-1]:
      raise UserError(f"example id {ids[-1]} appears in more than one of the exported entries")
    ids.append(record["example_id"])
    shapes.add(record["embedding"].shape[-1] if record["embedding"].ndim else 0)
  if len(shapes) > 1:
    raise UserError(f"the exported entries hold embeddings of {len(shapes)} different sizes ({sorted(shapes)}); "
                    "export one layer of one model at a time")
  dims = shapes.pop() if shapes else 0
  out_path.parent.mkdir(parents=True, exist_ok=True)
  # whole or not at all: a run killed while exporting leaves no file that looks like a submission
  temporary = out_path.parent / f"{cache.TEMPORARY_PREFIX}{os.getpid()}-{out_path.name}"
  writer = write_npz if out_path.suffix == ".npz" else write_parquet
  writer(temporary, ids, dims, lambda: _records(keys, cache_root), frame_level)
  temporary.replace(out_path)
  return len(ids)


def _records(keys, cache_root):
  """Every record of the entries in example-id order (shards are sorted: a heap merge holds one per shard)."""
  streams = []
  for key in keys:
    entry = epath.Path(key.path(cache_root))
    record = cache.read_completion(entry)
    if record is None:
      raise UserError(f"{entry} is not a complete cache entry (no {cache.COMPLETE}): run compute-embeddings "
                      "for it first; an interrupted run resumes where it stopped.")
    streams += [map(cache_format.parse, cache.read_records(entry / name)) for name in cache_format.shard_names(record)]
  return heapq.merge(*streams, key=lambda r: r["example_id"])


def _vector(record, frame_level: bool) -> np.ndarray:
  embedding = record["embedding"]
  return np.ascontiguousarray(embedding.reshape(embedding.shape[0], -1) if frame_level else embedding, "<f4")


def _npy_member(archive: zipfile.ZipFile, name: str, dtype: np.dtype, shape: tuple, chunks) -> None:
  """One array of an .npz written as np.savez writes it, its data from `chunks` (bytes) in order."""
  with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
    np.lib.format.write_array_header_1_0(member, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": shape})
    for chunk in chunks:
      member.write(chunk)


def write_npz(out_path: epath.Path, ids: list[str], dims: int, records, frame_level: bool) -> None:
  ids_array = np.array(ids, dtype=str) if ids else np.zeros(0, "<U1")
  frames = [record["embedding"].shape[0] for record in records()] if frame_level else None
  rows = sum(frames) if frame_level else len(ids)
  with out_path.open("wb") as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
    _npy_member(archive, "example_id", ids_array.dtype, ids_array.shape, [ids_array.tobytes()])
    if frame_level:
      _npy_member(archive, "num_frames", np.int64, (len(ids),), [np.array(frames, "<i8").tobytes()])
    _npy_member(archive, "embedding", "<f4", (rows, dims),
                (_vector(record, frame_level).tobytes() for record in records()))


def write_parquet(out_path: epath.Path, ids: list[str], dims: int, records, frame_level: bool) -> None:
  import pyarrow as pa  # pylint: disable=import-outside-toplevel
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

  def offsets(lengths):
    return pa.array(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int32))

  def group(batch):
    vectors = [_vector(r, frame_level) for r in batch]
    values = pa.array(np.concatenate([v.ravel() for v in vectors]) if vectors else np.zeros(0), pa.float32())
    if frame_level:
      inner = pa.ListArray.from_arrays(offsets([v.shape[1] for v in vectors for _ in range(len(v))]), values)
      embedding = pa.ListArray.from_arrays(offsets([len(v) for v in vectors]), inner)
    else:
      embedding = pa.ListArray.from_arrays(offsets([len(v) for v in vectors]), values)
    return pa.table({"example_id": pa.array([r["example_id"] for r in batch], pa.string()), "embedding": embedding})

  element = pa.list_(pa.float32())
  schema = pa.schema({"example_id": pa.string(), "embedding": pa.list_(element) if frame_level else element})
  with out_path.open("wb") as stream, pq.ParquetWriter(stream, schema) as writer:
    batch = []
    for record in records():
      batch.append(record)
      if len(batch) == PARQUET_ROWS:
        writer.write_table(group(batch).cast(schema))
        batch = []
    if batch or not ids:
      writer.write_table(group(batch).cast(schema))
