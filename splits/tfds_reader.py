"""Reads the example table (ids, labels, speakers, extras) of a built TFDS dataset without touching audio.

TFDS's `as_dataset` parses and decodes one example at a time: reading an AudioSet-sized task (2M
examples) that way took 382 CPU-seconds and 2.6 GB on the reference machine, while the whole
`prepare-splits` run, parsing batches of the split's serialized records with only the wanted features
in the spec (audio is never parsed), took 29-40 CPU-seconds and 1.5 GB (benchmarks/split_scale.py). Both
give the same table; datasets stored in another file format than TFRecord are read the TFDS way, with
PartialDecoding.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import tqdm

from nossbench import UserError
from nossbench.builders import loading
from nossbench.tasks import LABEL_SEPARATOR

BATCH = 8192


def label_feature(builder) -> str:
  features = builder.info.features
  for name in ("label", "labels"):
    if name in features:
      return name
  raise UserError(f"{builder.info.full_name} has neither a `label` nor a `labels` feature "
                  f"(features: {', '.join(sorted(features))}); it is not a nossbench task.")


def verification_trials(builder) -> list | None:
  """The builder's `verification_trials` metadata ([target, enrol id, test id] rows), or None."""
  metadata = builder.info.metadata
  if metadata is None or "verification_trials" not in metadata.keys():
    return None
  return metadata["verification_trials"]


def read_examples(builder, extras=(), via_records: bool | None = None) -> pd.DataFrame:
  """One row per example: example_id, label or labels, speaker_id, split (the TFDS split), `extras`.

  `via_records` picks the reader (default: the record files whenever they are TFRecord); both give the
  same table.
  """
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  features = builder.info.features
  wanted = ["example_id", label_feature(builder)] + [n for n in ("speaker_id",) if n in features] + list(extras)
  unknown = [name for name in wanted if name not in features]
  if unknown:
    scalars = sorted(n for n in features if n != "audio" and features[n].shape == ())
    raise UserError(f"{builder.info.full_name} has no feature {', '.join(unknown)}; it has "
                    f"{', '.join(scalars)}.")
  if via_records is None:
    via_records = builder.info.file_format == tfds.core.file_adapters.FileFormat.TFRECORD
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  chunks = []
  progress = tqdm.tqdm(total=sum(s.num_examples for s in builder.info.splits.values()), unit="example",
                       desc=f"reading {builder.info.full_name}", disable=None)  # on a terminal only
  for split in sorted(builder.info.splits):
    batches = _record_batches(builder, split, wanted) if via_records else _tfds_batches(builder, split, wanted)
    try:
      for batch in batches:
        columns = {name: _decode(builder, features[name], name, batch[name]) for name in wanted}
        columns["split"] = pa.array([split] * len(columns["example_id"]), pa.string())
        chunks.append(pa.table(columns))
        progress.update(len(columns["example_id"]))
    except (tf.errors.OpError, pa.ArrowException) as error:  # cut-short, absent or damaged record files
      reason = getattr(error, "message", None) or str(error)
      raise UserError(f"{builder.info.full_name} in {builder.data_dir}: the {split} split's records cannot be read "
                      f"({reason.splitlines()[0]}); the build was interrupted or its files were damaged: "
                      f"rebuild it with {loading.build_command(builder.info.full_name.rsplit('/', 1)[0], None)}.") from error
  progress.close()
  if not chunks:
    raise UserError(f"{builder.info.full_name} in {builder.data_dir} holds no examples; rebuild it.")
  table = pa.concat_tables(chunks).sort_by("example_id")
  if "speaker_id" not in features:
    table = table.append_column("speaker_id", pa.array([""] * len(table), pa.string()))
  ids = table["example_id"]
  if pc.count_distinct(ids).as_py() != len(ids):
    repeated = pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    first = ids[pc.index(repeated, True).as_py()].as_py()
    raise UserError(f"{builder.info.full_name}: example ids are not unique (e.g. {first!r} appears twice); "
                    "rebuild the dataset with this version of nossbench.")
  return table.to_pandas()


def iter_audio(builder):
  """(example_id, int16 samples) of every example of every split, one at a time (for `--audit`)."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  decoders = tfds.decode.PartialDecoding({"example_id": True, "audio": True})
  for split in sorted(builder.info.splits):
    for example in builder.as_dataset(split=split, decoders=decoders, shuffle_files=False).as_numpy_iterator():
      yield example["example_id"].decode(), example["audio"]


def _flatten(parsed: dict) -> dict:
  """Ragged (sequence) features become (values, row_lengths) so that batches convert to numpy."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  return {name: (value.values, value.row_lengths()) if isinstance(value, tf.RaggedTensor) else value
          for name, value in parsed.items()}


def _record_batches(builder, split: str, names: list[str]):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  spec = {}
  for name in names:
    info = builder.info.features[name].get_serialized_info()
    dtype = info.tf_dtype
    dtype = tf.string if dtype == tf.string else tf.float32 if dtype.is_floating else tf.int64
    spec[name] = tf.io.FixedLenFeature([], dtype) if info.shape == () else tf.io.RaggedFeature(dtype)
  files = [str(path) for path in builder.info.splits[split].filepaths]
  if not files:
    return
  # Sequential: parallel reads and parses took 3x the CPU for no gain in wall time on 2 cores.
  dataset = tf.data.TFRecordDataset(files).batch(BATCH).map(lambda batch: _flatten(tf.io.parse_example(batch, spec)))
  yield from dataset.as_numpy_iterator()


def _tfds_batches(builder, split: str, names: list[str]):
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  decoders = tfds.decode.PartialDecoding({name: True for name in names})
  dataset = builder.as_dataset(split=split, decoders=decoders, shuffle_files=False)
  yield from dataset.ragged_batch(BATCH).map(_flatten).as_numpy_iterator()


def _decode(builder, feature, name: str, values) -> pa.Array:
  """Class indices become names, bytes become text, a sequence becomes its names joined with ';'."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  if isinstance(values, tuple):
    flat, lengths = values
    flat = _decode(builder, feature.feature, name, flat)
    if len(flat) and pc.any(pc.match_substring(flat.cast(pa.string()), LABEL_SEPARATOR)).as_py():
      raise UserError(f"{builder.info.full_name}: a value of `{name}` contains {LABEL_SEPARATOR!r}, which "
                      "manifests use to join a sequence; rename that class.")
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
    return pc.binary_join(pa.ListArray.from_arrays(offsets, flat.cast(pa.string())), LABEL_SEPARATOR)
  if isinstance(feature, tfds.features.ClassLabel):
    return pa.array(feature.names, pa.string()).take(pa.array(values))
  if values.dtype.kind in "SO":
    try:
      return pa.array(values, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid as error:
      raise UserError(f"{builder.info.full_name}: a value of `{name}` is not UTF-8 text; rebuild the "
                      "dataset with this version of nossbench.") from error
  return pa.array(values.astype(np.int64) if values.dtype.kind in "iub" else values)
