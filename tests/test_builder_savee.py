"""`noss/savee` from SAVEE's AudioData.zip: TFDS's own split, speakers, labels, 44.1 kHz resampled."""

import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.datasets.savee import savee_dataset_builder as tfds_savee  # the reference

from builder_helpers import audit_built, examples, write_savee
from conftest import build
from nossbench import UserError


@pytest.fixture(scope="module")
def savee(tmp_path_factory):
  root = tmp_path_factory.mktemp("savee")
  written = write_savee(root / "raw")
  return build("noss/savee", root / "raw", root / "tfds"), written, root


def tfds_keys_by_split(root):
  """The keys TFDS's own savee builder generates per split, from the same AudioData.zip (no decoding)."""
  reference = tfds_savee.Builder(data_dir=str(root / "reference"))
  manager = tfds.download.DownloadManager(download_dir=str(root / "downloads"), manual_dir=str(root / "raw"),
                                          manual_dir_instructions="AudioData.zip")
  return {generator.name: sorted(key for key, _ in reference._generate_examples(**generator.gen_kwargs))  # pylint: disable=protected-access
          for generator in reference._split_generators(manager)}  # pylint: disable=protected-access


def test_splits_hold_exactly_the_examples_tfds_puts_there(savee):
  builder, _, root = savee
  ours = {split: sorted(i.replace("/", "_", 1) for i in by_id) for split, by_id in examples(builder).items()}
  assert ours == tfds_keys_by_split(root)
  assert {split: len(ids) for split, ids in ours.items()} == {"train": 14, "validation": 7, "test": 7}


def test_speaker_disjoint_labels_and_resampled_audio(savee):
  builder, written, _ = savee
  names = builder.info.features["label"].names
  assert names == ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
  speakers_by_split = {}
  for split, by_id in examples(builder).items():
    for example_id, example in by_id.items():
      code, speaker = written[example_id]
      assert names[example["label"]] == tfds_savee.LABEL_MAP[code]
      assert example["speaker_id"].decode() == speaker
      assert len(example["audio"]) == 800  # 0.05 s at 44.1 kHz -> 16 kHz
      speakers_by_split.setdefault(split, set()).add(speaker)
  assert sum(len(s) for s in speakers_by_split.values()) == len(set().union(*speakers_by_split.values())) == 4


def test_missing_archive_says_what_to_download(tmp_path):
  (tmp_path / "raw").mkdir()
  (tmp_path / "raw/AudioData").mkdir()
  with pytest.raises(UserError, match="no .*AudioData.zip.*Register.html"):
    build("noss/savee", tmp_path / "raw", tmp_path / "tfds")


def test_audit_finds_every_script_line_on_both_sides_and_no_repeated_audio(savee, tmp_path):
  """Every actor reads the same lines (a01, d01, ...): each crosses every pair of speaker-disjoint splits."""
  builder, written, _ = savee
  found, audio = audit_built(builder, tmp_path)
  lines = {example_id.split("/")[1] for example_id in written}
  pairs = {("train", "validation"), ("train", "test"), ("validation", "test")}
  assert set(zip(found["item_a"], found["split_a"], found["split_b"])) == {(l, a, b) for l in lines for a, b in pairs}
  assert set(found["kind"]) == {"content"} and audio.identical == []
  assert len(audio.unprinted) == len(written)  # 0.05 s tones: too short for Chromaprint, counted
