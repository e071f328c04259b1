"""TFRecord submissions, as `compute-embeddings` writes them, read without TensorFlow.

A TFRecord file is a run of records: 8-byte little-endian length, masked CRC32-C of those 8 bytes, the
data, masked CRC32-C of the data. Both checksums are verified (google-crc32c) and a length that runs past
the end of the file is reported as truncation, so a damaged shard never yields silently wrong vectors.
Each record is a tf.train.Example (`example_id` bytes, `embedding` floats or float16 bytes, optional
`shape`), parsed with the TensorFlow-free copy of the Example protos that TensorFlow Datasets ships. A
`shape` of rank 2 ([frames, dims], pooling `none`) is mean-pooled over frames.

A cache entry folder is read through its COMPLETE.json: only the shards it lists belong to the entry.
"""

import json
import math
import struct

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.scoring.problems import DEFAULT_MAX_DIMS, Problem, Raw, about

COMPLETE = "COMPLETE.json"
MAX_RECORD_BYTES = 64 * 2**20  # a completion record lists shards and failures: kB to a few MB
_MASK_DELTA = 0xA282EAD8


def _masked_crc(data) -> int:
  import google_crc32c  # pylint: disable=import-outside-toplevel

  crc = google_crc32c.value(bytes(data))
  return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def records(path, stream, size: int | None = None):
  """Yields each record's bytes from a binary stream (an open file: local or gs://), reading one record at
  a time; raises UserError at the first truncated or corrupt record. `path` names the file in errors.
  With the file's `size`, a length beyond the bytes left is refused before anything is allocated for it
  (a forged length with a valid checksum would otherwise make a read of up to 2^64 bytes)."""
  offset, index = 0, 0
  while header := stream.read(12):
    if len(header) < 12:
      raise UserError(f"{path}: truncated: record {index} at byte {offset} has an incomplete header. "
                      "Write the file again (rerun compute-embeddings).")
    (length,) = struct.unpack("<Q", header[:8])
    (length_crc,) = struct.unpack("<I", header[8:])
    if _masked_crc(header[:8]) != length_crc:
      raise UserError(f"{path}: corrupt: the length of record {index} at byte {offset} fails its checksum; "
                      "this is not a TFRecord file or it is damaged. Write it again.")
    if size is not None and length + 4 > size - offset - 12:
      raise UserError(f"{path}: truncated: record {index} at byte {offset} declares {length:,} bytes but the file "
                      f"has {size - offset - 12:,} left (cut short, or a forged length). Write the file again.")
    body = stream.read(length + 4)
    if len(body) < length + 4:
      raise UserError(f"{path}: truncated: record {index} at byte {offset} declares {length} bytes but the "
                      f"file ends {len(body)} bytes later. Write the file again.")
    payload = body[:length]
    if _masked_crc(payload) != struct.unpack("<I", body[length:])[0]:
      raise UserError(f"{path}: corrupt: record {index} at byte {offset} fails its checksum. Write it again.")
    yield payload
    offset, index = offset + 16 + length, index + 1


STORE_DTYPES = ("float32", "float16")


def embedding_values(feature) -> np.ndarray:
  """A record's `embedding` as float32: a float list (float32, the default), or one bytes value holding
  little-endian float16 (`compute-embeddings --store_dtype float16`, half the size). Empty when absent."""
  if "embedding" not in feature:
    return np.zeros(0, np.float32)
  stored = feature["embedding"]
  if stored.bytes_list.value:
    return np.frombuffer(b"".join(stored.bytes_list.value), "<f2").astype(np.float32)
  return np.asarray(stored.float_list.value, np.float32)


def completion_record(entry_dir: epath.Path) -> dict:
  """An entry's COMPLETE.json, checked to be a record (a JSON object) before anything uses it."""
  record_path = epath.Path(entry_dir) / COMPLETE
  if not record_path.exists():
    raise UserError(f"{entry_dir} is not a complete cache entry (no {COMPLETE}): run compute-embeddings for "
                    "it again; an interrupted run resumes where it stopped.")
  try:
    if record_path.stat().length > MAX_RECORD_BYTES:
      raise ValueError(f"{record_path.stat().length:,} bytes, where a completion record takes a few kB")
    record = json.loads(record_path.read_text())
    if not isinstance(record, dict):
      raise ValueError(f"a JSON {type(record).__name__}, not an object")
  except (OSError, ValueError) as error:
    raise UserError(f"{record_path}: not a readable completion record ({error}). compute-embeddings writes it "
                    "last and atomically, so the entry was damaged or is not one: delete the entry folder and "
                    "run compute-embeddings again.") from error
  return record


def entry_shards(entry_dir: epath.Path) -> tuple[list[epath.Path], dict]:
  """The shard files a complete cache entry's COMPLETE.json lists, and the record itself."""
  record_path = entry_dir / COMPLETE
  record = completion_record(entry_dir)
  try:
    names = [s["name"] if isinstance(s, dict) else s for s in record["shards"]]
    if not all(isinstance(n, str) and n and "/" not in n and "\\" not in n and n not in (".", "..") for n in names):
      raise ValueError("shards must be file names inside the entry folder")
    if not isinstance(record.get("failed", []), list):
      raise ValueError("failed must be a list")
  except (KeyError, TypeError, ValueError) as error:
    raise UserError(f"{record_path}: not a readable completion record ({error!r}); delete the entry folder and "
                    "run compute-embeddings again.") from error
  missing = [name for name in names if not (entry_dir / name).is_file()]
  if missing:
    raise UserError(f"{entry_dir}: {len(missing)} shards listed in {COMPLETE} are missing ({', '.join(missing[:5])}); "
                    "the entry was copied incompletely. Copy it again or recompute it.")
  return [entry_dir / name for name in names], record


def read(files: list, max_bytes: int, max_dims: int = DEFAULT_MAX_DIMS) -> Raw:
  """Reads TFRecord files of tf.train.Example into one submission."""
  from google.protobuf.message import DecodeError  # pylint: disable=import-outside-toplevel
  from tensorflow_datasets.proto import tf_example_generated_pb2  # pylint: disable=import-outside-toplevel

  files = [epath.Path(f) for f in files]
  total = sum(f.stat().length for f in files)
  if total > max_bytes:
    raise UserError(f"{', '.join(map(str, files[:3]))}{' ...' if len(files) > 3 else ''}: {total / 2**30:.2f} GiB "
                    f"of records, over the {max_bytes / 2**30:.2f} GiB limit (raise it with --max-bytes)")
  ids, vectors, frames = [], [], 0
  unparsable, no_embedding, bad_shape, not_utf8, too_wide = [], [], [], [], []
  for path in files:
    with path.open("rb") as stream:
      payloads = list(records(path, stream, path.stat().length))
    for index, payload in enumerate(payloads):
      where = f"{path.name}#{index}"
      try:
        feature = tf_example_generated_pb2.Example.FromString(payload).features.feature
      except DecodeError:
        unparsable.append(where)
        continue
      example_id = where
      if "example_id" in feature and feature["example_id"].bytes_list.value:
        try:
          example_id = feature["example_id"].bytes_list.value[0].decode("utf-8")
        except UnicodeDecodeError:
          not_utf8.append(where)
          continue
      try:
        vector = embedding_values(feature)
      except ValueError:  # float16 bytes of an odd length
        bad_shape.append(example_id)
        continue
      if not len(vector):
        no_embedding.append(example_id)
        continue
      shape = tuple(feature["shape"].int64_list.value) if "shape" in feature else (len(vector),)
      if len(shape) not in (1, 2) or min(shape) <= 0 or math.prod(shape) != len(vector):
        bad_shape.append(example_id)
        continue
      if shape[-1] > max_dims:
        too_wide.append(example_id)
        continue
      if len(shape) == 2:
        frames += shape[0]
        vector = vector.reshape(shape).mean(axis=0)
      ids.append(example_id)
      vectors.append(vector)
  problems = []
  if unparsable:
    problems.append(about("unparsable", "records are not tf.train.Example protos", unparsable))
  if no_embedding:
    problems.append(about("no_embedding", "records have no feature 'embedding' (floats, or float16 bytes)",
                          no_embedding))
  if bad_shape:
    problems.append(about("bad_shape", "records have a 'shape' that is not [dims] or [frames, dims] or does not "
                                       "match their number of values", bad_shape))
  if not_utf8:
    problems.append(about("ids_not_utf8", "records have an example_id that is not UTF-8 text", not_utf8))
  if too_wide:
    problems.append(about("too_many_dims", f"records have more than {max_dims:,} dimensions, more than any "
                                           "embedding model gives (pass --max-dims if they really are "
                                           "embeddings)", too_wide))
  dims = sorted({len(v) for v in vectors})
  if len(dims) > 1:
    problems.append(Problem("ragged", f"embeddings have different dimensions {dims}; every record needs the "
                                      "same number of values per frame"))
  ids = np.array(ids, dtype=str) if ids else np.array([], dtype=str)
  if problems:
    return Raw(ids, None, problems)
  embedding = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
  notes = [f"frame-level records ({frames} frames) mean-pooled over each example's frames"] if frames else []
  return Raw(ids, embedding, notes=notes, frames=bool(frames))
