"""The shared generation machinery: staged Beam units, metadata after splits, TFDS's writer memory cap."""

import apache_beam as beam
import soundfile
import tensorflow_datasets as tfds
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from tensorflow_datasets.core import shuffle

import nossbench.builders  # noqa: F401  (registers noss for tfds.builder)
from conftest import build, tone, write_tone_corpus
from nossbench.builders import beam_staging, generation
from nossbench.builders.bad_audio import Report
from nossbench.builders.items import Item


def tone_items(folder, count, bad=()):
  folder.mkdir(parents=True, exist_ok=True)
  items = []
  for n in range(count):
    path = folder / f"clip{n:05d}.wav"
    if n in bad:
      path.write_bytes(b"not audio")
    else:
      soundfile.write(str(path), tone(300 + n, 0.01), 16000)
    items.append(Item(f"clip{n:05d}", str(path), {"label": "a"}))
  return items


def graph_size(units, staging) -> int:
  pipeline = beam.Pipeline()
  _ = pipeline | beam_staging.beam_examples(units, Report("t/t", "train", True), {}, staging=staging)
  return len(pipeline.to_runner_api().SerializeToString())


def test_the_beam_graph_does_not_grow_with_the_number_of_units(tmp_path):
  few = tone_items(tmp_path / "audio", 3)
  many = [Item(f"clip{n:06d}", f"/data/some/long/folder/clip{n:06d}.wav", {"label": "a"})
          for n in range(25_000)]
  small, large = graph_size(few, tmp_path / "few"), graph_size(many, tmp_path / "many")
  assert abs(large - small) < 100  # the staging folder's name; beam.Create(many) would add ~120 KB (compressed)
  assert len(list((tmp_path / "many").iterdir())) == 3 and len(list((tmp_path / "few").iterdir())) == 1


def test_staged_units_all_reach_the_decoder_once_across_partitions(tmp_path, monkeypatch):
  monkeypatch.setattr(beam_staging, "UNITS_PER_PARTITION", 3)
  items = tone_items(tmp_path / "audio", 10, bad={4})
  metadata = {}
  with beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory"])) as pipeline:
    examples = pipeline | beam_staging.beam_examples(items, Report("t/t", "train", True), metadata,
                                                     staging=tmp_path / "staged")
    assert_that(examples | beam.Map(lambda key_example: key_example[0]),
                equal_to([f"clip{n:05d}" for n in range(10) if n != 4]), label="Keys")
    assert_that(metadata["build_report_train"] | beam.Map(lambda report: report["skipped"][0][0]),
                equal_to([str(tmp_path / "audio/clip00004.wav")]), label="Report")
  assert len(list((tmp_path / "staged").iterdir())) == 4


class Toy(generation.AudioBuilder, skip_registration=True):
  """Two splits of tone files on the local (generator) path."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="toy")]
  folder = None

  def _info(self):
    features = {"example_id": tfds.features.Text(), "audio": generation.Int16Audio(), "label": tfds.features.Text()}
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features),
                                 metadata=self.new_metadata())

  def _split_generators(self, dl_manager):
    items = tone_items(self.folder, 6, bad={1, 4})
    self.after_splits(["a", "b"], ["skipped_ids", "reports", "writer_cap"], lambda skipped: {
        "skipped_ids": sorted(skipped), "reports": sorted(k for k in self.info.metadata if k.startswith("build_")),
        "writer_cap": shuffle.MAX_MEM_BUFFER_SIZE})
    return {"a": self._generate_examples(self.report("a"), items[:3]),
            "b": self._generate_examples(self.report("b"), items[3:])}


def test_metadata_after_splits_sees_the_files_skipped_in_every_split(tmp_path):
  Toy.folder = tmp_path / "audio"
  builder = Toy(data_dir=str(tmp_path / "tfds"), skip_bad_audio=True, decode_workers=1)
  builder.download_and_prepare()
  metadata = builder.info.metadata
  assert metadata["skipped_ids"] == ["clip00001", "clip00004"]
  assert metadata["reports"] == ["build_report_a", "build_report_b"]  # finish ran after both splits
  assert {split: info.num_examples for split, info in builder.info.splits.items()} == {"a": 2, "b": 2}
  # TFDS's writer worked under the cap during the build; TFDS's own 1 GB is back after it.
  assert metadata["writer_cap"] == generation.WRITER_MEMORY_BYTES and shuffle.MAX_MEM_BUFFER_SIZE == 1000 << 20


def test_the_writer_memory_cap_leaves_the_stored_dataset_unchanged(tmp_path, monkeypatch):
  """With a cap of 0 bytes TFDS's writer moves every record to its disk buckets; the shards stay identical."""
  write_tone_corpus(tmp_path / "raw", sentences=("DFA",), seconds=0.05)
  build("noss/crema_d", tmp_path / "raw", tmp_path / "memory")
  monkeypatch.setattr(generation, "WRITER_MEMORY_BYTES", 0)
  build("noss/crema_d", tmp_path / "raw", tmp_path / "disk")
  assert shuffle.MAX_MEM_BUFFER_SIZE == 1000 << 20  # TFDS's own value, put back after the build
  shards = sorted(p.relative_to(tmp_path / "memory") for p in (tmp_path / "memory").rglob("*.tfrecord-*"))
  assert len(shards) == 3
  for shard in shards:
    assert (tmp_path / "memory" / shard).read_bytes() == (tmp_path / "disk" / shard).read_bytes()
  assert not list((tmp_path / "disk").rglob("bucket_*"))
