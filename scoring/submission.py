"""Reading a submission (any mix of files and cache entries for one task) and checking it against the task.

Formats: `.npz`, `.parquet`, TFRecord files, and `compute-embeddings` cache entry folders (a folder holding
COMPLETE.json, or any folder above such entries, e.g. one task's folder with an entry per split).
Validation collects every problem, not only the first, so a submitter can fix them all in one go.
"""

import hashlib
import os

import numpy as np
import pandas as pd
from etils import epath

from nossbench import UserError
from nossbench.scoring import npz_reader, parquet_reader, tfrecord_reader
from nossbench.scoring.problems import DEFAULT_MAX_DIMS, InvalidSubmission, Problem, Raw, about, shape_problems

DEFAULT_MAX_BYTES = 16 * 2**30
FORMATS = ".npz, .parquet, .tfrecord files or compute-embeddings cache entry folders"


def files_below(folder: epath.Path) -> list[epath.Path]:
  """Every file at any depth below a folder, sorted (epath's glob has no `**` on every filesystem).
  Symbolic links are followed, each folder once, so a link to a folder above cannot loop."""
  found, folders, seen = [], [epath.Path(folder)], set()
  while folders:
    current = folders.pop()
    real = str(current) if "://" in str(current) else os.path.realpath(current)
    if real in seen:
      continue
    seen.add(real)
    for path in current.iterdir():
      (folders if path.is_dir() else found).append(path)
  return sorted(found, key=str)


def cache_entries(folder: epath.Path) -> list[epath.Path]:
  """Complete cache entries at or below a folder, in sorted order."""
  return sorted({f.parent for f in files_below(folder) if f.name == tfrecord_reader.COMPLETE}, key=str)


def tasks_in(folder) -> dict[str, list[epath.Path]]:
  """{task: its cache entries} for the entries below a folder, by the task their COMPLETE.json records."""
  found = {}
  for entry in cache_entries(epath.Path(folder)):
    record = tfrecord_reader.completion_record(entry)
    task = record.get("key", {}).get("task") if isinstance(record.get("key"), dict) else None
    if not isinstance(task, str) or not task:
      raise UserError(f"{entry / tfrecord_reader.COMPLETE} names no task; give it with --task")
    found.setdefault(task, []).append(entry)
  return found


def _read_one(path: epath.Path, max_bytes: int, max_dims: int) -> Raw:
  try:
    return _read_path(path, max_bytes, max_dims)
  except OSError as error:  # unreadable permissions, a file vanished or a disk error while reading
    raise UserError(f"{path}: cannot be read ({error.strerror or error}); check that the file is there and "
                    "readable by you") from error


def _read_path(path: epath.Path, max_bytes: int, max_dims: int) -> Raw:
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
    raw = tfrecord_reader.read(files, max_bytes, max_dims)
    raw.notes.insert(0, f"read {len(entries)} cache entr{'y' if len(entries) == 1 else 'ies'} below {path}")
    if failed:
      raw.notes.append(f"compute-embeddings recorded {len(failed)} examples that failed to embed: "
                       f"{', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''}")
    return raw
  name = path.name.lower()
  if name.endswith(".npz"):
    return npz_reader.read(path, max_bytes, max_dims)
  if name.endswith(".parquet"):
    return parquet_reader.read(path, max_bytes, max_dims)
  if ".tfrecord" in name or name.endswith(".tfrec"):
    return tfrecord_reader.read([path], max_bytes, max_dims)
  raise UserError(f"{path}: unknown submission format; submissions are {FORMATS}")


def read(paths, max_bytes: int = DEFAULT_MAX_BYTES, max_dims: int = DEFAULT_MAX_DIMS) -> Raw:
  """Reads and concatenates every part of one task's submission, within one size budget."""
  parts = []
  for path in paths:
    used = sum(p.embedding.nbytes for p in parts if p.embedding is not None)
    parts.append(_read_one(epath.Path(path), max_bytes - used, max_dims))
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


def decoded_ids(ids: np.ndarray) -> tuple[pd.Series, list[Problem]]:
  """The ids as str; bytes ids (dtype S) must be UTF-8, and those that are not are listed, not altered."""
  if ids.dtype.kind == "U":
    return pd.Series(ids.astype(str)), []
  texts, bad = [], []
  for row, value in enumerate(ids.tolist()):
    try:
      texts.append(value.decode("utf-8"))
    except UnicodeDecodeError:
      texts.append(value.decode("utf-8", "backslashreplace"))
      bad.append(f"row {row}: {texts[-1]}")
  problems = [about("ids_not_utf8", "example ids are not UTF-8 text", bad)] if bad else []
  return pd.Series(texts, dtype=object), problems


def validate(source: str, raw: Raw, manifest: pd.DataFrame, max_dims: int = DEFAULT_MAX_DIMS) -> np.ndarray:
  """Checks the submission against the manifest's example ids; returns float32 [N, D] in manifest order.

  Frame-level arrays [N, T, D] are mean-pooled over T. Raises InvalidSubmission listing every problem.
  """
  ids, embedding = raw.ids, raw.embedding
  problems = list(raw.problems) + shape_problems(
      ids.shape, ids.dtype, None if embedding is None else embedding.shape,
      None if embedding is None else embedding.dtype, max_dims)
  if problems and (ids.ndim != 1 or ids.dtype.kind not in "US"):
    raise InvalidSubmission(source, problems)
  if any(p.code in ("not_float", "rank", "no_dims", "too_many_dims", "row_count") for p in problems):
    embedding = None

  id_series, undecodable = decoded_ids(ids)
  problems += undecodable
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
  if embedding is not None:
    # as float32, the type scored: a float64 value beyond its range would become Inf there
    finite = np.isfinite(embedding.astype(np.float32, copy=False)).reshape(len(embedding), -1).all(axis=1)
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
