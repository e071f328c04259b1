"""Example generation shared by the `noss` and `hares` builders: decode, police bad audio, report.

Decoding (ffmpeg/libsndfile, resampling to 16 kHz mono int16 through `builders/audio.py`) dominates a
build, and TFDS consumes a GeneratorBasedBuilder's examples from one generator in one process, so
`generate` decodes in a pool of worker processes and yields in input order (same output for any worker
count). Datasets too large for one machine use `beam_examples`, a Beam PTransform that Dataflow spreads.

API, in the order a builder uses it:

  class Builder(generation.AudioBuilder):        # adds the builder options below; register as usual
    def _info(self):                              # audio: Int16Audio() (fast to write, reads as int16)
      return self.dataset_info_from_configs(..., metadata=self.new_metadata())

    def _split_generators(self, dl_manager):
      report = self.report("train")               # one Report per split
      report.absent(["clips/missing.wav"])        # files an official list names but that are not there
      items = [generation.Item("a1", path, {"label": "dog", "speaker_id": ""}), ...]
      return {"train": self._generate_examples(items, report)}

    def _generate_examples(self, items, report):
      return self.generate(items, report)          # or self.beam_examples(units, report, to_items)

  For Beam configs list their names in `BEAM_CONFIGS` (metadata then is a BeamMetadataDict) and return
  `self.beam_examples(units, report, to_items)`: `units` are picklable work units (e.g. archives) and
  `to_items(unit)` a module-level function yielding their Items (without it the units are Items). The
  units wait in files beside the output, not in the pipeline graph, whose size (Dataflow caps it) then
  does not grow with their number.

  Metadata that depends on which files the build skipped across splits (VoxCeleb's verification trials
  name examples of every split) comes from `self.after_splits(splits, keys, finish)`: `finish(skipped)`,
  skipped = {example id: reason} of those splits, returns the metadata for `keys`; on Beam it runs in the
  pipeline, so it must be picklable (a module-level function or a functools.partial of one).

  Item(example_id, path, features, member=None, data=None, window=None): one source file. `path` is a
  local or gs:// file; with `member`, a member of the zip archive at `path`; with `data`, the file's bytes
  already read (a tar member) and `path`/`member` only name it. `features` are every feature except
  `example_id` and `audio`. `window=(length, hop)` in output samples cuts the decoded audio into windows
  (the last full one included) with example ids `<example_id>#<start sample>`.

Bad-audio policy. By default an undecodable file, or one an official list names but that is absent,
stops the build with a UserError naming the file and the reason. The builder option `skip_bad_audio`
skips them instead, e.g. `tfds build noss/savee/skip_bad_audio=True --imports nossbench.builders ...`
(TFDS passes `/key=value` after the config name to the builder's constructor; `tfds.builder` and
`tfds.load` accept the same name). Either way every skipped or absent file is logged (absl, warning)
and listed, and every all-zero clip (kept) counted, in the dataset's metadata under
`build_report_<split>`: {"skipped": [[file, reason], ...], "absent": [file, ...], "silent": [example_id,
...]}, beside "skip_bad_audio". Read it back with `builder.info.metadata`. The option
`decode_workers=N` sets the pool size (default: the CPUs this process may use).

Memory. TFDS's writer holds a generator split's serialized examples in memory up to 1 GB before it moves
them to disk; builds of this package cap that at WRITER_MEMORY_BYTES (see `writer_memory_limit`), so peak
memory does not grow with the corpus. The stored dataset is the same byte for byte.
"""

import collections
import concurrent.futures
import contextlib
import dataclasses
import gc
import itertools
import math
import multiprocessing
import operator
import os
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from nossbench import UserError
from nossbench.builders import archives, audio


@dataclasses.dataclass(frozen=True)
class Item:
  example_id: str
  path: str
  features: dict[str, Any]
  member: str | None = None
  data: bytes | None = None
  window: tuple[int, int] | None = None

  @property
  def name(self) -> str:
    """How errors and reports name the file."""
    return f"{self.path}:{self.member}" if self.member else self.path


def read_item(item: Item) -> bytes:
  """The item's file (or archive member) bytes; audio.AudioDecodeError when it cannot be read."""
  try:
    return archives.read_zip_member(item.path, item.member) if item.member else epath.Path(item.path).read_bytes()
  except (OSError, KeyError, archives.ArchiveError) as error:
    raise audio.AudioDecodeError(f"{item.name}: cannot be read ({error})") from error


def _fetched(item: Item) -> Item:
  """A remote (gs://, ...) item with its bytes read here, in the parent: the clients epath uses for remote
  filesystems (gcsfs) refuse to work in a forked process. Local files are read by the workers."""
  if item.data is not None or "://" not in item.path:
    return item
  try:
    return dataclasses.replace(item, data=read_item(item))
  except audio.AudioDecodeError:
    return item  # the worker reports it, as for a local file


def decode_item(item: Item) -> list[tuple[str, dict[str, Any]]]:
  """Decodes one item into its (key, example) pairs; raises audio.AudioDecodeError for bad audio."""
  data = item.data if item.data is not None else read_item(item)
  samples, rate = audio.read_audio(data, item.name)
  samples = audio.to_int16_mono(samples, rate)
  if item.window is None:
    return [(item.example_id, {"example_id": item.example_id, "audio": samples, **item.features})]
  length, hop = item.window
  examples = []
  for start in range(0, len(samples) - length + 1, hop):
    example_id = f"{item.example_id}#{start}"
    examples.append((example_id, {"example_id": example_id, "audio": samples[start:start + length],
                                  **item.features}))
  return examples


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


def default_workers() -> int:
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _decode_or_reason(item: Item):
  """Runs in a worker: the examples, or the reason the file is bad (an exception would lose its type)."""
  try:
    return decode_item(item)
  except audio.AudioDecodeError as error:
    return str(error).removeprefix(f"{item.name}: ")


def _decode_or_skip(item: Item, report: Report, result=None):
  """The item's examples; for bad audio, an error or (skip_bad_audio) an entry in the report and none."""
  result = _decode_or_reason(item) if result is None else result
  if isinstance(result, str):
    report.bad_audio(item.name, result, item.example_id)
    return []
  return result


def _decode_chunk(items: list[Item]) -> list:
  return [_decode_or_reason(item) for item in items]


def generate(items: Iterable[Item], report: Report, metadata, workers: int = 0, chunk: int = 8
             ) -> Iterator[tuple[str, dict[str, Any]]]:
  """Yields (key, example) for `items` in order, decoded by `workers` processes (0: one per CPU).

  Items travel to the workers `chunk` at a time (fewer round trips for short clips), and at most two
  chunks per worker are in flight, so memory stays flat however long `items` is; the split's report
  goes into `metadata` once the last example is out.
  """
  workers = workers or default_workers()

  def finish(item, result):
    return report.examples(_decode_or_skip(item, report, result))

  if workers == 1:
    for item in items:
      yield from finish(item, None)
  else:
    # Fork: workers inherit the imported modules instead of importing TensorFlow again; with the parent's
    # objects frozen, the garbage collector does not write to (and so copy) their pages in the workers.
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    items = map(_fetched, items)
    gc.freeze()
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
      pending = collections.deque()
      try:
        while batch := list(itertools.islice(items, chunk)):
          pending.append((batch, pool.submit(_decode_chunk, batch)))
          if len(pending) >= 2 * workers:
            batch, future = pending.popleft()
            for item, result in zip(batch, future.result()):
              yield from finish(item, result)
        while pending:
          batch, future = pending.popleft()
          for item, result in zip(batch, future.result()):
            yield from finish(item, result)
      finally:
        for _, future in pending:
          future.cancel()
        gc.unfreeze()
  metadata[report.key] = report.as_json()


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
        for key, example in report.examples(_decode_or_skip(item, report)):
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

  Beam's Create would pickle every unit into the pipeline graph (AudioSet: 2 million clips, far over
  Dataflow's graph size limit); the graph carries only this pair instead. The files are pickles written
  by this build into its own unfinished output folder, read back by its own workers and removed with it.
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


def _finish_from_records(records, finish: Callable[[dict[str, str]], dict[str, Any]]) -> dict[str, Any]:
  return finish({example_id: reason for kind, _, reason, example_id in records
                 if kind == "skipped" and example_id is not None})


class _AfterSplits:
  """Metadata `keys` = finish(skipped examples of `splits`), set once every one of those splits is generated."""

  def __init__(self, splits: Iterable[str], keys: Sequence[str], finish, metadata):
    self.waiting, self.keys, self.finish, self.metadata = set(splits), tuple(keys), finish, metadata
    self.skipped: dict[str, str] = {}  # generator splits: known once each has run
    self.records = []  # Beam splits: their report records, known in the pipeline

  def done(self, split: str, report: Report | None = None, records=None) -> None:
    if split not in self.waiting:
      return
    self.waiting.discard(split)
    if report is not None:
      self.skipped.update(report.skipped_examples)
    if records is not None:
      self.records.append(records)
    if self.waiting:
      return
    if not self.records:
      self.metadata.update(self.finish(self.skipped))
      return
    import apache_beam as beam  # pylint: disable=import-outside-toplevel

    label = "Metadata_" + "_".join(self.keys)
    values = (tuple(self.records)
              | f"{label}/Flatten" >> beam.Flatten()
              | f"{label}/Collect" >> beam.combiners.ToList()
              | f"{label}/Finish" >> beam.Map(_finish_from_records, finish=self.finish))
    for key in self.keys:
      self.metadata[key] = values | f"{label}/{key}" >> beam.Map(operator.itemgetter(key))


# Above this a split's records wait in TFDS's bucket files: more than the shortest test splits, far less
# than TFDS's 1 GB (a SAVEE-like corpus of 2,000 clips has a 140 MB train split).
WRITER_MEMORY_BYTES = 64 << 20


@contextlib.contextmanager
def writer_memory_limit(limit: int):
  """Caps the memory TFDS's writer holds a generator split in, for the duration of a build.

  TFDS 4.9 (tensorflow_datasets/core/shuffle.py, Shuffler) keeps the serialized examples of a split in a
  list until their size passes MAX_MEM_BUFFER_SIZE, 1 GB, then moves them to 1,000 bucket files by hashed
  key and later reads the buckets back one at a time, each sorted. Both ways yield the records sorted by
  the same hashed key into the same shards, so only where they wait changes, not the dataset. TFDS has
  no option for the limit (`disable_shuffling` still buffers, only orders by key instead of hash, and
  makes readers refuse shuffle_files), so this sets the module constant, and puts it back after.
  """
  from tensorflow_datasets.core import shuffle  # pylint: disable=import-outside-toplevel

  previous, shuffle.MAX_MEM_BUFFER_SIZE = shuffle.MAX_MEM_BUFFER_SIZE, limit
  try:
    yield
  finally:
    shuffle.MAX_MEM_BUFFER_SIZE = previous


class Int16Audio(tfds.features.Audio):
  """The `audio` feature of every example: 16 kHz mono int16, stored as raw bytes.

  TFDS's default encoding writes each sample as a varint in an int64 list, built sample by sample in
  Python: that serialization, not decoding, then bounds a build (tens of ms per 4 s clip). Raw bytes
  are written at memory speed, take 2 bytes a sample and read back as the same int16 array. TFDS's
  Audio hands arrays to the writer before applying its encoding; this class applies it.
  """

  def __init__(self, **kwargs):
    kwargs = {"shape": (None,), "dtype": np.int16, "sample_rate": audio.TARGET_SAMPLE_RATE,
              "encoding": tfds.features.Encoding.BYTES} | kwargs
    super().__init__(**kwargs)

  def encode_example(self, audio_or_path_or_fobj):
    if isinstance(audio_or_path_or_fobj, (np.ndarray, list)):
      return tfds.features.Tensor.encode_example(self, np.asarray(audio_or_path_or_fobj, self.np_dtype))
    return super().encode_example(audio_or_path_or_fobj)


class AudioBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of `noss` and `hares`: the bad-audio option, the decode pool size, the split reports."""

  BEAM_CONFIGS: frozenset[str] = frozenset()  # names of the configs generated through Beam

  def __init__(self, *, skip_bad_audio: bool = False, decode_workers: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.skip_bad_audio, self.decode_workers = bool(skip_bad_audio), int(decode_workers)
    # TFDS rebuilds a pickled builder from _original_state (multi-process generation): keep the options.
    self._original_state.update(skip_bad_audio=self.skip_bad_audio, decode_workers=self.decode_workers)
    self._after_splits: list[_AfterSplits] = []

  def new_metadata(self):
    beam = self.builder_config.name in self.BEAM_CONFIGS
    return tfds.core.BeamMetadataDict() if beam else tfds.core.MetadataDict()

  def report(self, split: str) -> Report:
    self.info.metadata["skip_bad_audio"] = self.skip_bad_audio
    return Report(f"{self.name}/{self.builder_config.name}", split, self.skip_bad_audio)

  def after_splits(self, splits: Iterable[str], keys: Sequence[str], finish) -> None:
    """Sets metadata `keys` from finish({example id: reason} skipped in `splits`) once they are generated."""
    self._after_splits.append(_AfterSplits(splits, keys, finish, self.info.metadata))

  def generate(self, items: Iterable[Item], report: Report):
    yield from generate(items, report, self.info.metadata, self.decode_workers)
    for after in self._after_splits:
      after.done(report.split, report=report)

  def beam_examples(self, units: Sequence, report: Report, to_items=None):
    def reported(records):
      for after in self._after_splits:
        after.done(report.split, records=records)

    return beam_examples(units, report, self.info.metadata, to_items,
                         staging=self._staging_dir / report.split, reported=reported)

  @property
  def _staging_dir(self) -> epath.Path:
    """Where Beam units wait: in the unfinished output folder, which every worker can reach."""
    return epath.Path(self.data_dir) / "beam_units.tmp"

  def _download_and_prepare(self, dl_manager, download_config):
    try:
      with writer_memory_limit(WRITER_MEMORY_BYTES):
        super()._download_and_prepare(dl_manager, download_config)
    finally:
      if self._staging_dir.exists():
        self._staging_dir.rmtree()
