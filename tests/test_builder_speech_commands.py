"""`noss/speech_commands` from the two official archives: TFDS's lists, test archive and noise windows."""

import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.datasets.speech_commands import speech_commands_dataset_builder as tfds_sc  # reference

from builder_helpers import SC_MAIN, SC_TEST, examples, write_speech_commands
from conftest import build
from nossbench import UserError
from nossbench.builders.sources import speech_commands


@pytest.fixture(scope="module")
def commands(tmp_path_factory):
  root = tmp_path_factory.mktemp("speech_commands")
  layout = write_speech_commands(root / "raw")
  return build("noss/speech_commands", root / "raw", root / "tfds"), layout, root


def tfds_key(example_id: str) -> str:
  """Our id in TFDS's key format: `<word>_<file>.wav`, windows `..._<start>`."""
  name, _, start = example_id.partition("#")
  return name.replace("/", "_", 1) + ".wav" + (f"_{start}" if start else "")


def test_splits_are_tfds_splits_plus_the_last_full_noise_window(commands):
  builder, _, root = commands
  reference = tfds_sc.Builder(data_dir=str(root / "reference"))
  manager = tfds.download.DownloadManager(download_dir=str(root / "downloads"))
  train, validation = reference._split_archive(manager.iter_archive(root / "raw" / SC_MAIN))  # pylint: disable=protected-access
  sources = {"train": (SC_MAIN, train), "validation": (SC_MAIN, validation), "test": (SC_TEST, None)}
  expected = {split: {key: ex["label"] for key, ex in reference._generate_examples(  # pylint: disable=protected-access
      manager.iter_archive(root / "raw" / archive), paths)} for split, (archive, paths) in sources.items()}
  names = builder.info.features["label"].names
  ours = {split: {tfds_key(i): names[e["label"]] for i, e in by_id.items()} for split, by_id in examples(builder).items()}
  # noise0.wav and running_tap.wav last exactly 2 s: TFDS's range(0, n - 16000, 8000) drops the window at
  # 16000; noise1.wav (2.25 s) has no such window, so there the two agree.
  fixed = {"train": {"_background_noise__noise0.wav_16000": "_silence_"},
           "validation": {"_background_noise__running_tap.wav_16000": "_silence_"}, "test": {}}
  assert ours == {split: expected[split] | fixed[split] for split in expected}
  assert names == list(tfds_sc.WORDS) + ["_silence_", "_unknown_"]


def test_ids_speakers_windows_and_labels(commands):
  builder, layout, _ = commands
  by_split = examples(builder)
  names = builder.info.features["label"].names
  window = by_split["train"]["_background_noise_/noise1#16000"]
  assert len(window["audio"]) == 16000 and window["speaker_id"] == b"" and names[window["label"]] == "_silence_"
  assert sorted(i for i in by_split["test"]) == sorted(w.removesuffix(".wav") for w in layout["test_wavs"])
  bed = by_split["train"]["bed/0a7c2a8d_nohash_0"]
  assert names[bed["label"]] == "_unknown_" and bed["speaker_id"] == b"0a7c2a8d"
  assert by_split["test"]["_unknown_/bed_2c3d4e5f_nohash_1"]["speaker_id"] == b"2c3d4e5f"
  assert not set(by_split["train"]) & {w.removesuffix(".wav") for w in layout["validation"] + layout["testing"]}


def test_checksums_record_the_official_archives():
  recorded = (speech_commands.__file__.rsplit("/builders/", 1)[0] + "/builders/noss/checksums.tsv")
  lines = {line.split("\t")[0]: line.split("\t") for line in open(recorded, encoding="utf-8").read().splitlines()}
  for url in speech_commands.URLS.values():
    assert url in lines and len(lines[url][2]) == 64 and int(lines[url][1]) > 10**8


def test_one_archive_without_the_other_is_explained(tmp_path):
  write_speech_commands(tmp_path / "raw")
  (tmp_path / "raw" / SC_TEST).unlink()
  with pytest.raises(UserError, match=f"{SC_TEST} is missing beside"):
    build("noss/speech_commands", tmp_path / "raw", tmp_path / "tfds")
