"""TFRecord submissions, as `compute-embeddings` writes them, read without TensorFlow, in the cache format
that `pipelines/cache_format.py` owns (framing and checksums, Example records, COMPLETE.json). A `shape`
of rank 2 ([frames, dims], pooling `none`) is mean-pooled over frames. A cache entry folder is read
through its COMPLETE.json: only the shards it lists belong to the entry.
"""

import math

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.pipelines import cache_format
from nossbench.scoring.problems import DEFAULT_MAX_DIMS, Problem, Raw, about

COMPLETE = cache_format.COMPLETE


def completion_record(entry_dir: epath.Path) -> dict:
  """An entry's COMPLETE.json, checked before anything uses it; an entry without one is not complete."""
  record = cache_format.load_completion(entry_dir)
  if record is None:
    raise UserError(f"{entry_dir} is not a complete cache entry (no {COMPLETE}): run compute-embeddings for "
                    "it again; an interrupted run resumes where it stopped.")
  return record


def entry_shards(entry_dir: epath.Path) -> tuple[list[epath.Path], dict]:
  """The shard files a complete cache entry's COMPLETE.json lists, and the record itself."""
  record = completion_record(entry_dir)
  names = cache_format.shard_names(record)
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
      payloads = list(cache_format.records(path, stream, path.stat().length))
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
        vector = cache_format.embedding_values(feature)
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
