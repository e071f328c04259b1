"""Reads example ids, labels and speakers of a built TFDS dataset without decoding (or parsing) audio."""

import pandas as pd

from nossbench import UserError

ID_FEATURES = ("example_id", "label", "speaker_id")


def build_command(task: str, data_dir: str | None) -> str:
  data_dir_flag = f" --data_dir {data_dir}" if data_dir else ""
  return f"tfds build {task} --imports nossbench.builders{data_dir_flag} --manual_dir <raw dataset folder>"


def load_builder(task: str, data_dir: str | None):
  """Returns the prepared TFDS builder of `task` (e.g. 'noss/crema_d'), or a UserError saying how to build it."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  import nossbench.builders  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import  (registers builders)

  try:
    builder = tfds.builder(task, data_dir=data_dir)
  except (tfds.core.registered.DatasetNotFoundError, ValueError) as error:
    raise UserError(f"unknown task {task!r} ({str(error).splitlines()[0]}). "
                    "Tasks are named <benchmark>/<task>, e.g. noss/crema_d.") from error
  if not builder.is_prepared():
    raise UserError(f"{task} is not built in {builder.data_dir}. Build it first: "
                    f"{build_command(task, data_dir)}")
  return builder


def read_examples(builder) -> pd.DataFrame:
  """Returns one row per example: example_id, label (name), speaker_id, split (the TFDS split)."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  label_names = builder.info.features["label"].names
  decoders = tfds.decode.PartialDecoding({name: True for name in ID_FEATURES})
  frames = []
  for split in sorted(builder.info.splits):
    dataset = builder.as_dataset(split=split, decoders=decoders, shuffle_files=False).batch(8192)
    for batch in tfds.as_numpy(dataset):
      frames.append(pd.DataFrame({
          "example_id": [x.decode("utf-8") for x in batch["example_id"]],
          "label": [label_names[i] for i in batch["label"]],
          "speaker_id": [x.decode("utf-8") for x in batch["speaker_id"]],
          "split": split,
      }))
  table = pd.concat(frames, ignore_index=True)
  duplicated = table["example_id"][table["example_id"].duplicated()]
  if len(duplicated):
    raise UserError(f"{builder.info.full_name}: example ids are not unique (e.g. {duplicated.iloc[0]!r}); "
                    "rebuild the dataset with this version of nossbench.")
  return table.sort_values("example_id", ignore_index=True)
