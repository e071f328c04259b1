"""Small TFDS datasets for the split tests and the split scale benchmark, written with TFDS's
external-TFRecord API (`tfds.folder_dataset.write_metadata`): what `prepare-splits` reads is a real
TFDS dataset (records, dataset_info.json, features.json, metadata.json), loadable by
`tfds.builder(task, data_dir=...)` without any builder code.
"""

import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath


def features(labels, multi_label=False, **extras) -> tfds.features.FeaturesDict:
  """The features every nossbench task has (tiny int16 audio), plus `extras` (name=feature)."""
  classes = tfds.features.ClassLabel(names=list(labels))
  return tfds.features.FeaturesDict({
      "example_id": tfds.features.Text(),
      "audio": tfds.features.Audio(shape=(None,), dtype=np.int16, sample_rate=16000),
      "labels" if multi_label else "label": tfds.features.Sequence(classes) if multi_label else classes,
      "speaker_id": tfds.features.Text(),
      **extras,
  })


def example_proto(example: dict) -> bytes:
  """A tf.train.Example of already-encoded values (ints, str, int lists): fast, for millions of rows."""
  feature = {}
  for key, value in example.items():
    if isinstance(value, str):
      feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))
    else:
      ints = [int(value)] if np.ndim(value) == 0 else [int(v) for v in value]
      feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=ints))
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfds_dataset(data_dir, task: str, feature_dict, splits: dict, metadata: dict | None = None,
                       fast: bool = False) -> epath.Path:
  """Writes `task` (`name/config`) under data_dir; splits: {split: [shard: iterable of example dicts]}.

  Examples are serialized by TFDS itself unless `fast` (labels then given as class indices).
  """
  name, config = task.split("/")
  folder = epath.Path(data_dir) / name / config / "1.0.0"
  folder.mkdir(parents=True, exist_ok=True)
  template = tfds.core.ShardedFileTemplate(data_dir=folder, dataset_name=name, filetype_suffix="tfrecord")
  split_infos = []
  for split, shards in splits.items():
    split_template = template.replace(split=split)
    lengths = []
    for path, shard in zip(split_template.sharded_filepaths(len(shards)), shards):
      count = 0
      with tf.io.TFRecordWriter(str(path)) as writer:
        for example in shard:
          writer.write(example_proto(example) if fast else feature_dict.serialize_example(example))
          count += 1
      lengths.append(count)
    size = sum(p.stat().length for p in split_template.sharded_filepaths(len(shards)))
    split_infos.append(tfds.core.SplitInfo(name=split, shard_lengths=lengths, num_bytes=size,
                                           filename_template=split_template))
  tfds.folder_dataset.write_metadata(
      data_dir=folder, features=feature_dict, split_infos=split_infos, filename_template=template,
      check_data=False, metadata=tfds.core.MetadataDict(metadata or {}))
  return folder


def speaker_table(sizes: dict[str, int], labels=("a", "b")) -> pd.DataFrame:
  """An example table: speaker s has sizes[s] examples, labels cycling through `labels`."""
  rows = [(f"{s}_{i:03d}", labels[i % len(labels)], s) for s, n in sizes.items() for i in range(n)]
  return pd.DataFrame(rows, columns=["example_id", "label", "speaker_id"]).assign(split="train")
