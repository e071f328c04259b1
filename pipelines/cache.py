"""The embedding cache: one entry per (model, fingerprint, layer, pooling, sample rate, task, split).

An entry is a folder `<root>/<model>/<fingerprint>/<layer>/<pooling>-<rate>hz/<benchmark>/<task>/<split>/`
holding sharded TFRecords of tf.train.Example (`example_id`, `embedding`, `shape`, `label`, `speaker_id`)
and a completion record, COMPLETE.json, written last (temporary name, then rename). Only the shards the
record lists are part of the entry: files left by an interrupted run are never read as complete.
"""

import dataclasses
import json
import uuid

import numpy as np
from etils import epath

COMPLETE = "COMPLETE.json"


@dataclasses.dataclass(frozen=True)
class EntryKey:
  model: str
  fingerprint: str
  layer: str
  pooling: str
  sample_rate: int
  task: str
  split: str

  def path(self, root) -> epath.Path:
    pooling = self.pooling.replace("+", "_")
    return epath.Path(root).joinpath(self.model, self.fingerprint, self.layer,
                                     f"{pooling}-{self.sample_rate}hz", *self.task.split("/"), self.split)


def read_completion(entry_dir: epath.Path) -> dict | None:
  record = entry_dir / COMPLETE
  return json.loads(record.read_text()) if record.exists() else None


def write_completion(entry_dir: epath.Path, record: dict) -> None:
  temporary = entry_dir / f".{COMPLETE}.{uuid.uuid4().hex}"
  temporary.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
  temporary.rename(entry_dir / COMPLETE)


def serialize(example_id: str, embedding: np.ndarray, label: int, speaker_id: str) -> bytes:
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  feature = {
      "example_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[example_id.encode("utf-8")])),
      "embedding": tf.train.Feature(float_list=tf.train.FloatList(value=embedding.ravel())),
      "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=embedding.shape)),
      "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
      "speaker_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[speaker_id.encode("utf-8")])),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def read_entry(entry_dir: epath.Path) -> tuple[list[str], np.ndarray]:
  """Returns (example ids, embeddings [N, D]) of a complete entry, sorted by example id."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  record = read_completion(entry_dir)
  if record is None:
    raise FileNotFoundError(f"{entry_dir} is not a complete cache entry (no {COMPLETE})")
  spec = {"example_id": tf.io.FixedLenFeature([], tf.string),
          "embedding": tf.io.VarLenFeature(tf.float32)}
  ids, vectors = [], []
  files = [str(entry_dir / name) for name in record["shards"]]
  for example in tf.data.TFRecordDataset(files).batch(1024).map(lambda x: tf.io.parse_example(x, spec)):
    ids.extend(x.decode("utf-8") for x in example["example_id"].numpy())
    vectors.append(tf.sparse.to_dense(example["embedding"]).numpy())
  embeddings = np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32)
  order = np.argsort(ids, kind="stable")
  return [ids[i] for i in order], embeddings[order]
