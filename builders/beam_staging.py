"""Generating a split through Apache Beam, from work units staged in files beside the output.

For datasets too large for one machine (Dataflow spreads the workers). A unit (an archive, a clip) opens
into Items in a worker. The units wait in files, not in the pipeline graph: Beam's Create would pickle
every unit into the graph, whose size Dataflow caps, so the graph carries only the files' folder.
"""

import math
import os
import pickle
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from etils import epath

from nossbench.builders import archives
from nossbench.builders.bad_audio import Report, decode_or_skip
from nossbench.builders.items import Item


class _DecodeFn:
  """Beam: one unit (an archive, a list of items, ...) in, examples out; report records to a side output.

  A report record is (kind, file or example id, reason, example id): ("skipped", file, reason, its example
  id or None) or ("silent", example id, "", example id).
  """

  def __init__(self, to_items: Callable[[Any], Iterable[Item]] | None, report: Report):
    self.to_items, self.task, self.split, self.skip = to_items, report.task, report.split, report.skip_bad_audio

  def __call__(self, unit):
    import apache_beam as beam  # pylint: disable=import-outside-toplevel

    report = Report(self.task, self.split, self.skip)
    items = self.to_items(unit) if self.to_items else [unit]
    try:
      for item in items:
        for key, example in report.examples(decode_or_skip(item, report)):
          beam.metrics.Metrics.counter(self.task, "examples").inc()
          yield key, example
    except archives.ArchiveError as error:  # the unit itself, e.g. a truncated tar, is unreadable
      report.bad_audio(error.path, error.reason)
    beam.metrics.Metrics.counter(self.task, "skipped").inc(len(report.skipped))
    for name, reason, example_id in report.skipped:
      yield beam.pvalue.TaggedOutput("report", ("skipped", name, reason, example_id))
    for key in report.silent:
      yield beam.pvalue.TaggedOutput("report", ("silent", key, "", key))


def _summarise(records, absent: list[str]) -> dict[str, list]:
  return {"skipped": sorted([name, reason] for kind, name, reason, _ in records if kind == "skipped"),
          "absent": sorted(absent), "silent": sorted(name for kind, name, _, _ in records if kind == "silent")}


UNITS_PER_PARTITION = 10_000  # units per staged file: a few MB, read by one worker


def stage_units(units: Sequence, folder) -> tuple[str, int]:
  """Writes `units` to `folder`, UNITS_PER_PARTITION to a file; returns (folder, number of files).

  The graph carries only this pair. The files are pickles written by this build into its own unfinished
  output folder, read back by its own workers and removed with it.
  """
  folder = epath.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  count = math.ceil(len(units) / UNITS_PER_PARTITION)
  for index in range(count):
    part = list(units[index * UNITS_PER_PARTITION:(index + 1) * UNITS_PER_PARTITION])
    (folder / f"{index:05d}.pickle").write_bytes(pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
  return os.fspath(folder), count


def _partitions(staged: tuple[str, int]) -> list[str]:
  folder, count = staged
  return [os.fspath(epath.Path(folder) / f"{index:05d}.pickle") for index in range(count)]


def _read_partition(path: str) -> list:
  return pickle.loads(epath.Path(path).read_bytes())


def beam_examples(units: Sequence, report: Report, metadata, to_items: Callable[[Any], Iterable[Item]] | None = None,
                  *, staging, reported: Callable[[Any], None] | None = None):
  """A Beam PTransform yielding (key, example) from `units`, each turned into Items by `to_items`.

  `to_items` (a module-level function, since workers unpickle it) opens one unit, e.g. reads a tar
  archive into Items with `data`; without it the units are Items. The units are staged in the folder
  `staging` (see `stage_units`). `metadata` must be a tfds.core.BeamMetadataDict: the split's report is
  written there when the pipeline runs. `reported(records)` is handed the report records' PCollection.
  """
  import apache_beam as beam  # pylint: disable=import-outside-toplevel

  staged = stage_units(units, staging)

  @beam.ptransform_fn
  def examples(root):
    outputs = (root
               | "Create" >> beam.Create([staged])  # one small element, however many units
               | "Partitions" >> beam.FlatMap(_partitions)
               | "SpreadPartitions" >> beam.Reshuffle()
               | "Units" >> beam.FlatMap(_read_partition)
               | "Reshuffle" >> beam.Reshuffle()  # spread the units over workers
               | "Decode" >> beam.FlatMap(_DecodeFn(to_items, report)).with_outputs("report", main="examples"))
    metadata[report.key] = (outputs.report
                            | "CollectReport" >> beam.combiners.ToList()
                            | "Summarise" >> beam.Map(_summarise, absent=list(report.absent_files)))
    if reported:
      reported(outputs.report)
    return outputs.examples

  return examples()  # pylint: disable=no-value-for-parameter
