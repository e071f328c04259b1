"""The bad-audio policy, and the report of what a split's build left out.

By default an undecodable file (what counts as one, cut-short files included, is listed in
`builders/audio.py`), or one an official list names but that is absent, stops the build with a UserError
naming the file and the reason: a benchmark built from part of its data must not pass for the whole.
The builder option `skip_bad_audio=True` skips them instead (`tfds build noss/savee/skip_bad_audio=True
...`; `tfds.builder` and `tfds.load` accept the same name). Either way every skipped or absent file is
logged and listed, and every all-zero clip (kept) counted, in the dataset's metadata under
`build_report_<split>`: {"skipped": [[file, reason], ...], "absent": [file, ...], "silent": [example_id,
...]}, beside "skip_bad_audio".
"""

from collections.abc import Iterable
from typing import Any

from absl import logging

from nossbench import UserError
from nossbench.builders import audio
from nossbench.builders.items import Item, decode_item


class Report:
  """What one split's build left out or found odd; enforces the bad-audio policy."""

  def __init__(self, task: str, split: str, skip_bad_audio: bool):
    self.task, self.split, self.skip_bad_audio = task, split, skip_bad_audio
    self.absent_files: list[str] = []
    self.skipped: list[tuple[str, str, str | None]] = []  # (file, reason, its example id if one file)
    self.silent: list[str] = []

  @property
  def key(self) -> str:
    return f"build_report_{self.split}"

  def _fix(self) -> str:
    return (f"Put the file(s) back (see the dataset's download instructions), or rebuild with "
            f"`tfds build {self.task}/skip_bad_audio=True ...` to leave them out; they are then listed in "
            f"the dataset's metadata under {self.key!r}.")

  def absent(self, names: Iterable[str]) -> None:
    names = sorted(names)
    if not names:
      return
    if not self.skip_bad_audio:
      shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
      raise UserError(f"{self.task}: {len(names)} file(s) of the {self.split} split named by the dataset's "
                      f"official lists are not in the download: {shown}. {self._fix()}")
    for name in names:
      logging.warning("%s %s: listed but absent, left out: %s", self.task, self.split, name)
    self.absent_files.extend(names)

  def bad_audio(self, name: str, reason: str, example_id: str | None = None) -> None:
    if not self.skip_bad_audio:
      raise UserError(f"{self.task}: cannot decode {name} in the {self.split} split: {reason}. {self._fix()}")
    logging.warning("%s %s: undecodable, skipped: %s (%s)", self.task, self.split, name, reason)
    self.skipped.append((name, reason, example_id))

  @property
  def skipped_examples(self) -> dict[str, str]:
    """{example id: reason} of the skipped files."""
    return {example_id: reason for _, reason, example_id in self.skipped if example_id is not None}

  def examples(self, key_examples: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Notes the silent ones among freshly decoded examples and passes them on."""
    for key, example in key_examples:
      if not example["audio"].any():
        self.silent.append(key)
    return key_examples

  def as_json(self) -> dict[str, list]:
    summary = {"skipped": sorted([name, reason] for name, reason, _ in self.skipped),
               "absent": sorted(self.absent_files), "silent": sorted(self.silent)}
    logging.info("%s %s: %d undecodable skipped, %d absent, %d silent (kept)", self.task, self.split,
                 len(summary["skipped"]), len(summary["absent"]), len(summary["silent"]))
    return summary


def decode_or_reason(item: Item):
  """Runs in a worker: the examples, or the reason the file is bad (an exception would lose its type)."""
  try:
    return decode_item(item)
  except audio.AudioDecodeError as error:
    return str(error).removeprefix(f"{item.name}: ")


def decode_or_skip(item: Item, report: Report, result=None):
  """The item's examples; for bad audio, an error or (skip_bad_audio) an entry in the report and none."""
  result = decode_or_reason(item) if result is None else result
  if isinstance(result, str):
    report.bad_audio(item.name, result, item.example_id)
    return []
  return result
