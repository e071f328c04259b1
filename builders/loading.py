"""Loading a built task's TFDS builder, or one paragraph saying how to build it. Importing this module
registers the `noss` and `hares` builders (it is part of `nossbench.builders`), so splits, pipelines and
the audit load builders through here rather than importing the builders themselves."""

import tensorflow_datasets as tfds
from etils import epath
from google.protobuf import json_format

from nossbench import UserError


def build_command(task: str, data_dir: str | None) -> str:
  data_dir_flag = f" --data_dir {data_dir}" if data_dir else ""
  return f"tfds build {task} --imports nossbench.builders{data_dir_flag} --manual_dir <raw dataset folder>"


def load_builder(task: str, data_dir: str | None):
  """Returns the prepared TFDS builder of `task` (e.g. 'noss/crema_d'), or a UserError saying how to build it."""
  try:
    builder = tfds.builder(task, data_dir=data_dir)
  except (tfds.core.registered.DatasetNotFoundError, ValueError, OSError, KeyError, TypeError,
          json_format.Error) as error:
    reason = (str(error) or type(error).__name__).splitlines()[0]
    built = data_dir and "/" in task and (epath.Path(data_dir) / task).is_dir()
    if built and not isinstance(error, tfds.core.registered.DatasetNotFoundError):
      raise UserError(f"{task} in {data_dir}: its dataset files (dataset_info.json, features.json) cannot be read "
                      f"({reason}); the build was interrupted or they were damaged. Rebuild it: "
                      f"{build_command(task, data_dir)}") from error
    raise UserError(f"unknown task {task!r} in {data_dir or 'the default data_dir'} ({reason}). Tasks are named "
                    f"<benchmark>/<task>, e.g. noss/crema_d; build one with: {build_command(task, data_dir)}") from error
  if not builder.is_prepared():
    raise UserError(f"{task} is not built in {builder.data_dir}. Build it first: "
                    f"{build_command(task, data_dir)}")
  return builder
