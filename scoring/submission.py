"""Reading a submission (any mix of files and cache entries for one task) and checking it against the task.

Formats: `.npz`, `.parquet`, TFRecord files, and `compute-embeddings` cache entry folders (a folder holding
COMPLETE.json, or any folder above such entries, e.g. one task's folder with an entry per split).
Validation collects every problem, not only the first, so a submitter can fix them all in one go.
"""

import hashlib
import json

import numpy as np
import pandas as pd
from etils import epath

from nossbench import UserError
from nossbench.scoring import npz_reader, parquet_reader, tfrecord_reader
from nossbench.scoring.problems import InvalidSubmission, Problem, Raw, about

DEFAULT_MAX_BYTES = 16 * 2**30
FORMATS = ".npz, .parquet, .tfrecord files or compute-embeddings cache entry folders"


def files_below(folder: epath.Path) -> list[epath.Path]:
  """Every file at any depth below a folder, sorted (epath's glob has no `**` on every filesystem)."""
  found, folders = [], [epath.Path(folder)]
  while folders:
    for path in folders.pop().iterdir():
      (folders if path.is_dir() else found).append(path)
  return sorted(found, key=str)


def cache_entries(folder: epath.Path) -> list[epath.Path]:
  """Complete cache entries at or below a folder, in sorted order."""
  return sorted({f.parent for f in files_below(folder) if f.name == tfrecord_reader.COMPLETE}, key=str)


def tasks_in(folder) -> dict[str, list[epath.Path]]:
  """{task: its cache entries} for the entries below a folder, by the task their COMPLETE.json records."""
  found = {}
  for entry in cache_entries(epath.Path(folder)):
    record = json.loads((entry / tfrecord_reader.COMPLETE).read_text())
    task = record.get("key", {}).get("task")
    if not task:
      raise UserError(f"{entry / tfrecord_reader.COMPLETE} names no task; give it with --task")
    found.setdefault(task, []).append(entry)
  return found


def _read_one(path: epath.Path, max_bytes: int) -> Raw:
  if not path.exists():
    raise UserError(f"{path}: no such submission file or folder")
  if path.is_dir():
    entries = cache_entries(path)
    if not entries:
      stray = [p for p in files_below(path) if ".tfrecord" in p.name]
      if stray:
        raise UserError(f"{path} holds TFRecord files but no {tfrecord_reader.COMPLETE}: an incomplete cache "
                        "entry. Run compute-embeddings again to finish it (it resumes).")
      raise UserError(f"{path}: a folder with no cache entry below it; submissions are {FORMATS}")
    files, failed = [], []
    for entry in entries:
      shards, record = tfrecord_reader.entry_shards(entry)
      files += shards
      failed += [f["example_id"] if isinstance(f, dict) else str(f) for f in record.get("failed", [])]
    raw = tfrecord_reader.read(files, max_bytes)
    raw.notes.insert(0, f"read {len(entries)} cache entr{'y' if len(entries) == 1 else 'ies'} below {path}")
    if failed:
      raw.notes.append(f"compute-embeddings recorded {len(failed)} examples that failed to embed: "
                       f"{', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''}")
    return raw
  name = path.name.lower()
  if name.endswith(".npz"):
    return npz_reader.read(path, max_bytes)
  if name.endswith(".parquet"):
    return parquet_reader.read(path, max_bytes)
  if ".tfrecord" in name or name.endswith(".tfrec"):
    return tfrecord_reader.read([path], max_bytes)
  raise UserError(f"{path}: unknown submission format; submissions are {FORMATS}")


def read(paths, max_bytes: int = DEFAULT_MAX_BYTES) -> Raw:
  """Reads and concatenates every part of one task's submission, within one size budget."""
  parts = []
  for path in paths:
    used = sum(p.embedding.nbytes for p in parts if p.embedding is not None)
    parts.append(_read_one(epath.Path(path), max_bytes - used))
  if len(parts) == 1:
    return parts[0]
  problems = [p for part in parts for p in part.problems]
  notes = [n for part in parts for n in part.notes]
  ids = np.concatenate([part.ids for part in parts])
  shapes = {part.embedding.shape[1:] for part in parts if part.embedding is not None}
  if len(shapes) > 1:
    problems.append(Problem("ragged", f"the parts have embeddings of different shapes {sorted(shapes)}"))
  if problems or any(part.embedding is None for part in parts):
    return Raw(ids, None, problems, notes)
  return Raw(ids, np.concatenate([part.embedding for part in parts]), [], notes, any(p.frames for p in parts))


def validate(source: str, raw: Raw, manifest: pd.DataFrame) -> np.ndarray:
  """Checks the submission against the manifest's example ids; returns float32 [N, D] in manifest order.

  Frame-level arrays [N, T, D] are mean-pooled over T. Raises InvalidSubmission listing every problem.
  """
  problems, ids, embedding = list(raw.problems), raw.ids, raw.embedding
  if len(ids) == 0:
    problems.append(Problem("empty", "the submission is empty: it holds no examples"))
  if ids.ndim != 1:
    problems.append(Problem("ids_shape", f"example_id must be one-dimensional, got shape {ids.shape}"))
  if ids.dtype.kind not in "US":
    problems.append(Problem("ids_not_strings", f"example_id must hold strings, got dtype {ids.dtype}"))
  if embedding is not None:
    if embedding.dtype.kind != "f":
      problems.append(Problem("not_float", f"embedding must be floating point, got dtype {embedding.dtype}"))
    if embedding.ndim not in (2, 3):
      problems.append(Problem("rank", f"embedding must be [examples, dims] (or [examples, frames, dims] for "
                                      f"frame-level input), got shape {embedding.shape}"))
    elif embedding.shape[-1] == 0:
      problems.append(Problem("no_dims", f"embedding has zero dimensions (shape {embedding.shape})"))
    if ids.ndim == 1 and embedding.ndim >= 1 and len(ids) != len(embedding):
      problems.append(Problem("row_count", f"{len(ids)} example ids but {len(embedding)} embedding rows"))
  if problems and (ids.ndim != 1 or ids.dtype.kind not in "US"):
    raise InvalidSubmission(source, problems)

  id_series = pd.Series(ids.astype(str))
  duplicated = sorted(set(id_series[id_series.duplicated()]))
  if duplicated:
    problems.append(about("duplicate_ids", "example ids appear more than once", duplicated))
  expected = set(manifest["example_id"])
  unknown = sorted(set(id_series) - expected)
  if unknown:
    problems.append(about("unknown_ids", "example ids are not in the task", unknown))
  missing = sorted(expected - set(id_series))
  if missing:
    problem = about("missing_ids", "example ids of the task are missing", missing)
    failed = [n for n in raw.notes if "failed to embed" in n]
    problem.message += f" ({failed[0]})" if failed else ""
    problems.append(problem)
  if not problems and embedding.ndim == 3:
    embedding = embedding.mean(axis=1)
    raw.notes.append(f"frame-level array [examples, {raw.embedding.shape[1]} frames, dims] mean-pooled over frames")
  if embedding is not None and embedding.dtype.kind == "f" and embedding.ndim in (2, 3):
    finite = np.isfinite(embedding.astype(np.float32)).reshape(len(embedding), -1).all(axis=1)
    bad_rows = np.flatnonzero(~finite)
    if len(bad_rows):
      where = "" if embedding.dtype == np.float32 else " as float32"
      problems.append(about("non_finite", f"embeddings hold NaN or Inf{where}", id_series[bad_rows]))
  if problems:
    raise InvalidSubmission(source, problems)
  position = pd.Series(np.arange(len(ids)), index=id_series)
  return np.ascontiguousarray(embedding[position[manifest["example_id"]].to_numpy()], dtype=np.float32)


def warnings_for(x: np.ndarray) -> list[str]:
  """Signs of a broken model that still make a valid file."""
  found = []
  if len(x) > 1 and np.all(x == x[0]):
    return ["every embedding is identical: scores will be at chance"]
  constant = int(np.sum(np.all(x == x[0], axis=0)))
  if constant:
    found.append(f"{constant} of {x.shape[1]} dimensions are constant (zero variance)")
  zero = int(np.sum(~x.any(axis=1)))
  if zero:
    found.append(f"{zero} embeddings are all zeros")
  digests = pd.Series([hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x])
  duplicated = int(digests.duplicated().sum())
  if duplicated:
    found.append(f"{duplicated} embeddings exactly repeat an earlier one (different clips, same vector)")
  return found
