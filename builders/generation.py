"""The base of the `noss` and `hares` builders: what they add to a TFDS GeneratorBasedBuilder.

Builder options `skip_bad_audio` (`bad_audio`) and `decode_workers` (the local pool's size, default: the
CPUs this process may use); one `Report` per split; examples from Items decoded in a local pool
(`generate`, see `decode_pool`) or, for configs in BEAM_CONFIGS, through Beam (`beam_examples`, see
`beam_staging`); metadata that depends on which files the build skipped across splits (`after_splits`:
VoxCeleb's verification trials name examples of every split); and the stored audio feature, Int16Audio.

Memory: TFDS's writer holds a generator split's serialized examples in memory up to 1 GB before it moves
them to disk; these builds cap that at WRITER_MEMORY_BYTES (`tfds_compat.writer_memory_limit`), so peak
memory does not grow with the corpus. The stored dataset is the same byte for byte.
"""

import contextlib
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from nossbench.builders import audio, beam_staging, decode_pool, tfds_compat
from nossbench.builders.bad_audio import Report
from nossbench.builders.items import Item


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


# Above this a split's records wait in TFDS's bucket files: more than the shortest test splits hold, far
# less than TFDS's 1 GB.
WRITER_MEMORY_BYTES = 64 << 20


class Int16Audio(tfds.features.Audio):
  """The `audio` feature of every example: 16 kHz mono int16, stored as raw bytes.

  TFDS's default encoding writes each sample as a varint in an int64 list, built sample by sample in
  Python: that serialization, not decoding, then bounds a build. Raw bytes are written at memory speed,
  take 2 bytes a sample and read back as the same int16 array. TFDS's Audio hands arrays to the writer
  before applying its encoding; this class applies it.
  """

  def __init__(self, **kwargs):
    kwargs = {"shape": (None,), "dtype": np.int16, "sample_rate": audio.TARGET_SAMPLE_RATE,
              "encoding": tfds.features.Encoding.BYTES} | kwargs
    super().__init__(**kwargs)

  def encode_example(self, audio_or_path_or_fobj):
    if isinstance(audio_or_path_or_fobj, (np.ndarray, list)):
      return tfds.features.Tensor.encode_example(self, np.asarray(audio_or_path_or_fobj, self.np_dtype))
    return super().encode_example(audio_or_path_or_fobj)

  @property
  def dtype(self):
    """tf_dtype, without the deprecation warning: TFDS 4.9 itself reads this deprecated field on this class
    (Audio.to_json_content when a build writes dataset_info.json, Tensor.decode_example when as_dataset
    reads bytes-encoded audio), so every build and read logged the warning at no call of ours."""
    return self.tf_dtype


class AudioBuilder(tfds_compat.Builder, skip_registration=True):
  """Base of `noss` and `hares`: the bad-audio option, the decode pool size, the split reports."""

  BEAM_CONFIGS: frozenset[str] = frozenset()  # names of the configs generated through Beam

  def __init__(self, *, skip_bad_audio: bool = False, decode_workers: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.skip_bad_audio, self.decode_workers = bool(skip_bad_audio), int(decode_workers)
    self.keep_options(skip_bad_audio=self.skip_bad_audio, decode_workers=self.decode_workers)
    self._after_splits: list[_AfterSplits] = []

  @property
  def task(self) -> str:
    """How errors and reports name the task: `<builder>/<config>`."""
    return f"{self.name}/{self.builder_config.name}"

  @property
  def MANUAL_DOWNLOAD_INSTRUCTIONS(self):  # pylint: disable=invalid-name
    """A config's `manual_download_instructions`, if it has them (TFDS's default: none)."""
    return getattr(self.builder_config, "manual_download_instructions", None)

  def new_metadata(self):
    beam = self.builder_config.name in self.BEAM_CONFIGS
    return tfds.core.BeamMetadataDict() if beam else tfds.core.MetadataDict()

  def report(self, split: str) -> Report:
    self.info.metadata["skip_bad_audio"] = self.skip_bad_audio
    return Report(self.task, split, self.skip_bad_audio)

  def after_splits(self, splits: Iterable[str], keys: Sequence[str], finish) -> None:
    """Sets metadata `keys` from finish({example id: reason} skipped in `splits`) once they are generated."""
    self._after_splits.append(_AfterSplits(splits, keys, finish, self.info.metadata))

  def _generate_examples(self, report: Report, units, to_items=None):
    """A generator (Items, decoded in a local pool) or, for BEAM_CONFIGS, a Beam PTransform (units that
    `to_items` opens into Items, or Items)."""
    if self.builder_config.name in self.BEAM_CONFIGS:
      return self.beam_examples(units, report, to_items)
    return self.generate(units, report)

  def generate(self, items: Iterable[Item], report: Report):
    yield from decode_pool.generate(items, report, self.info.metadata, self.decode_workers)
    for after in self._after_splits:
      after.done(report.split, report=report)

  def beam_examples(self, units: Sequence, report: Report, to_items=None):
    def reported(records):
      for after in self._after_splits:
        after.done(report.split, records=records)

    return beam_staging.beam_examples(units, report, self.info.metadata, to_items,
                         staging=self._staging_dir / report.split, reported=reported)

  @property
  def _staging_dir(self) -> epath.Path:
    """Where Beam units wait: in the unfinished output folder, which every worker can reach."""
    return epath.Path(self.data_dir) / "beam_units.tmp"

  @contextlib.contextmanager
  def preparing(self):
    """The writer's memory capped; Beam's staged units removed at the end, whether the build failed or not."""
    try:
      with tfds_compat.writer_memory_limit(WRITER_MEMORY_BYTES):
        yield
    finally:
      if self._staging_dir.exists():
        self._staging_dir.rmtree()
