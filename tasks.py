"""What every stage agrees on about a task's data, without TensorFlow: the split names, how a task's labels
are stored, where its manifests live. Builders, splits, pipelines, scoring and the server all import it, so
each of these facts is written once."""

import re

from etils import epath

SPLITS = ("train", "validation", "test")
NAME = re.compile(r"^[a-z0-9_]+/[a-z0-9_]+$")  # <benchmark>/<task>, e.g. noss/crema_d
LABEL_SEPARATOR = ";"  # joins a multi-label example's label names in manifests and reports


def label_column(columns) -> str:
  """`labels` for a multi-label task, `label` otherwise; `columns`: a table, a mapping or a list of names."""
  return "labels" if "labels" in columns else "label"


def split_labels(joined: str) -> list[str]:
  """A multi-label example's label names from a manifest cell."""
  return [name for name in joined.split(LABEL_SEPARATOR) if name]


def manifest_folder(root, task: str) -> epath.Path:
  """Where a task's manifests (and its audit) live under a manifest root: ROOT/<benchmark>/<task>."""
  return epath.Path(root).joinpath(*task.split("/"))
