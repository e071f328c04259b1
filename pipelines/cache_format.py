"""The embedding cache's format, in one place: compute-embeddings writes and resumes with it,
score-submission reads it (and any TFRecord submission). Nothing here imports TensorFlow, Beam or a model.

- A shard is a TFRecord file: records of an 8-byte little-endian length, the masked CRC32-C of those 8
  bytes, the data and the masked CRC32-C of the data. Both checksums are verified (google-crc32c), and a
  length that runs past the end of the file is truncation, so a damaged shard never yields wrong vectors.
- A record is a tf.train.Example, built and parsed with the TensorFlow-free copy of the Example proto that
  TensorFlow Datasets ships (the same bytes as TensorFlow's): `example_id`, `speaker_id`, `shape`
  (`[dims]`, or `[frames, dims]` with pooling none), `embedding` (float32 values, or one bytes value of
  little-endian float16 with `--store_dtype float16`), and `label` or `labels` when the task has them.
- `COMPLETE.json` is an entry's completion record, written last: an entry is complete if and only if it
  exists, and its shards are exactly the ones it lists (objects with a `name`)."""

import json
import struct
from collections.abc import Iterable

import numpy as np
from etils import epath

from nossbench import UserError

COMPLETE = "COMPLETE.json"
MAX_COMPLETION_BYTES = 64 * 2**20  # a completion record lists shards and failures: kB to a few MB
STORE_DTYPES = ("float32", "float16")
_MASK_DELTA = 0xA282EAD8


# --- TFRecord framing ------------------------------------------------------------------------------------

def _masked_crc(data) -> int:
  import google_crc32c  # pylint: disable=import-outside-toplevel

  crc = google_crc32c.value(bytes(data))
  return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
  """One record as a TFRecord file holds it (the inverse of `records`), so that shards are written through
  epath on any filesystem, gs:// included, byte for byte as TensorFlow's TFRecordWriter writes them."""
  length = struct.pack("<Q", len(data))
  return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


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


# --- records ---------------------------------------------------------------------------------------------

def serialize(example_id: str, embedding: np.ndarray, speaker_id: str = "", label: int | None = None,
              labels: Iterable[int] | None = None, store_dtype: str = "float32") -> bytes:
  """One cache record (deterministic bytes: equal records are equal bytes in any process)."""
  from tensorflow_datasets.proto import tf_example_generated_pb2  # pylint: disable=import-outside-toplevel

  embedding = np.asarray(embedding, np.float32)
  example = tf_example_generated_pb2.Example()
  feature = example.features.feature
  feature["example_id"].bytes_list.value.append(example_id.encode("utf-8"))
  feature["speaker_id"].bytes_list.value.append(speaker_id.encode("utf-8"))
  feature["shape"].int64_list.value.extend(int(d) for d in embedding.shape)
  if store_dtype == "float16":
    feature["embedding"].bytes_list.value.append(embedding.astype("<f2").tobytes())
  else:
    feature["embedding"].float_list.value.extend(embedding.ravel().tolist())
  if label is not None:
    feature["label"].int64_list.value.append(int(label))
  if labels is not None:
    feature["labels"].int64_list.value.extend(int(v) for v in labels)
  return example.SerializeToString(deterministic=True)


def embedding_values(feature) -> np.ndarray:
  """A record's `embedding` as float32 (from float32 values or float16 bytes); empty when absent."""
  if "embedding" not in feature:
    return np.zeros(0, np.float32)
  stored = feature["embedding"]
  if stored.bytes_list.value:
    return np.frombuffer(b"".join(stored.bytes_list.value), "<f2").astype(np.float32)
  return np.asarray(stored.float_list.value, np.float32)


def parse(record: bytes) -> dict:
  """One cache record as numpy: `embedding` has its stored shape; `label`/`labels` only when stored."""
  from tensorflow_datasets.proto import tf_example_generated_pb2  # pylint: disable=import-outside-toplevel

  feature = tf_example_generated_pb2.Example.FromString(record).features.feature
  shape = tuple(feature["shape"].int64_list.value)
  parsed = {"example_id": feature["example_id"].bytes_list.value[0].decode("utf-8"),
            "speaker_id": feature["speaker_id"].bytes_list.value[0].decode("utf-8"),
            "embedding": embedding_values(feature).reshape(shape)}
  if "label" in feature:
    parsed["label"] = int(feature["label"].int64_list.value[0])
  if "labels" in feature:
    parsed["labels"] = np.asarray(feature["labels"].int64_list.value, np.int64)
  return parsed


def example_id_of(record: bytes) -> str:
  return parse(record)["example_id"]


# --- the completion record -------------------------------------------------------------------------------

def load_completion(entry_dir) -> dict | None:
  """An entry's COMPLETE.json, checked (a JSON object listing its shards by file name inside the entry,
  `failed` a list) before anything uses it; None while the entry is incomplete (no record)."""
  path = epath.Path(entry_dir) / COMPLETE
  if not path.exists():
    return None
  fix = ("compute-embeddings writes it last and atomically, so the entry was damaged or is not one: delete the "
         "entry folder and run compute-embeddings again.")
  try:
    if path.stat().length > MAX_COMPLETION_BYTES:
      raise ValueError(f"{path.stat().length:,} bytes, where a completion record takes a few kB")
    record = json.loads(path.read_text())
    if not isinstance(record, dict):
      raise ValueError(f"a JSON {type(record).__name__}, not an object")
  except (OSError, ValueError) as error:
    raise UserError(f"{path}: not a readable completion record ({error}). {fix}") from error
  shards, failed = record.get("shards"), record.get("failed", [])
  if not isinstance(shards, list) or not isinstance(failed, list):
    raise UserError(f"{path}: not a readable completion record (`shards` and `failed` must be lists). {fix}")
  names = [s.get("name") if isinstance(s, dict) else s for s in shards]
  if not all(isinstance(n, str) and n and "/" not in n and "\\" not in n and n not in (".", "..") for n in names):
    raise UserError(f"{path}: not a readable completion record (shards must be file names inside the entry "
                    f"folder). {fix}")
  record["shards"] = [s if isinstance(s, dict) else {"name": s} for s in shards]
  return record


def shard_names(record: dict) -> list[str]:
  return [shard["name"] for shard in record["shards"]]
