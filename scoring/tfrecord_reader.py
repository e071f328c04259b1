"""TFRecord submissions, as `compute-embeddings` writes them, read without TensorFlow.

A TFRecord file is a run of records: 8-byte little-endian length, masked CRC32-C of those 8 bytes, the
data, masked CRC32-C of the data. Both checksums are verified (google-crc32c) and a length that runs past
the end of the file is reported as truncation, so a damaged shard never yields silently wrong vectors.
Each record is a tf.train.Example (`example_id` bytes, `embedding` floats, optional `shape`), parsed with
the TensorFlow-free copy of the Example protos that TensorFlow Datasets ships. A `shape` of rank 2
([frames, dims], pooling `none`) is mean-pooled over frames.

A cache entry folder is read through its COMPLETE.json: only the shards it lists belong to the entry.
"""

import json
import struct

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.scoring.problems import Problem, Raw, about

COMPLETE = "COMPLETE.json"
_MASK_DELTA = 0xA282EAD8


def _masked_crc(data) -> int:
  import google_crc32c  # pylint: disable=import-outside-toplevel

  crc = google_crc32c.value(bytes(data))
  return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
  """One record as a TFRecord file holds it: the inverse of `records`, so any epath filesystem can take it."""
  length = struct.pack("<Q", len(data))
  return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


def records(path, stream):
  """Yields each record's bytes from a binary stream (an open file: local or gs://), reading one record at
  a time; raises UserError at the first truncated or corrupt record. `path` names the file in errors."""
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
    body = stream.read(length + 4)
    if len(body) < length + 4:
      raise UserError(f"{path}: truncated: record {index} at byte {offset} declares {length} bytes but the "
                      f"file ends {len(body)} bytes later. Write the file again.")
    payload = body[:length]
    if _masked_crc(payload) != struct.unpack("<I", body[length:])[0]:
      raise UserError(f"{path}: corrupt: record {index} at byte {offset} fails its checksum. Write it again.")
    yield payload
    offset, index = offset + 16 + length, index + 1


def entry_shards(entry_dir: epath.Path) -> tuple[list[epath.Path], dict]:
  """The shard files a complete cache entry's COMPLETE.json lists, and the record itself."""
  record_path = entry_dir / COMPLETE
  if not record_path.exists():
    raise UserError(f"{entry_dir} is not a complete cache entry (no {COMPLETE}): run compute-embeddings for "
                    "it again; an interrupted run resumes where it stopped.")
  try:
    record = json.loads(record_path.read_text())
    names = [s["name"] if isinstance(s, dict) else s for s in record["shards"]]
  except (ValueError, KeyError, TypeError) as error:
    raise UserError(f"{record_path}: not a readable completion record ({error}).") from error
  missing = [name for name in names if not (entry_dir / name).exists()]
  if missing:
    raise UserError(f"{entry_dir}: {len(missing)} shards listed in {COMPLETE} are missing ({', '.join(missing[:5])}); "
                    "the entry was copied incompletely. Copy it again or recompute it.")
  return [entry_dir / name for name in names], record


def read(files: list, max_bytes: int) -> Raw:
  """Reads TFRecord files of tf.train.Example into one submission."""
  from google.protobuf.message import DecodeError  # pylint: disable=import-outside-toplevel
  from tensorflow_datasets.proto import tf_example_generated_pb2  # pylint: disable=import-outside-toplevel

  files = [epath.Path(f) for f in files]
  total = sum(f.stat().length for f in files)
  if total > max_bytes:
    raise UserError(f"{', '.join(map(str, files[:3]))}{' ...' if len(files) > 3 else ''}: {total / 2**30:.2f} GiB "
                    f"of records, over the {max_bytes / 2**30:.2f} GiB limit (raise it with --max-bytes)")
  ids, vectors, frames = [], [], 0
  unparsable, no_embedding, bad_shape = [], [], []
  for path in files:
    with path.open("rb") as stream:
      payloads = list(records(path, stream))
    for index, payload in enumerate(payloads):
      where = f"{path.name}#{index}"
      try:
        feature = tf_example_generated_pb2.Example.FromString(payload).features.feature
      except DecodeError:
        unparsable.append(where)
        continue
      example_id = feature["example_id"].bytes_list.value[0].decode("utf-8", "replace") \
          if "example_id" in feature and feature["example_id"].bytes_list.value else where
      if "embedding" not in feature or not feature["embedding"].float_list.value:
        no_embedding.append(example_id)
        continue
      vector = np.asarray(feature["embedding"].float_list.value, np.float32)
      shape = tuple(feature["shape"].int64_list.value) if "shape" in feature else (len(vector),)
      if int(np.prod(shape)) != len(vector) or len(shape) not in (1, 2):
        bad_shape.append(example_id)
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
    problems.append(about("no_embedding", "records have no float feature 'embedding'", no_embedding))
  if bad_shape:
    problems.append(about("bad_shape", "records have a 'shape' that is not [dims] or [frames, dims] or does not "
                                       "match their number of values", bad_shape))
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
