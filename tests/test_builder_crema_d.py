"""`noss/crema_d` from CREMA-D's raw layout: ids, labels, speakers, audio and TFDS's speaker split."""

import numpy as np
import pytest
import soundfile
import tensorflow_datasets as tfds

from conftest import build, tone, write_tone_corpus
from nossbench import UserError
from nossbench.builders.sources import crema_d
from nossbench import speaker_shuffle


def examples_by_split(builder):
  return {split: list(tfds.as_numpy(builder.as_dataset(split=split))) for split in builder.info.splits}


def test_splits_hold_exactly_the_speakers_tfds_puts_there(tone_dataset):
  builder, written, _, _ = tone_dataset
  expected = speaker_shuffle.assign_speakers({i.split("_")[0] for i in written})
  seen = {}
  for split, examples in examples_by_split(builder).items():
    for example in examples:
      speaker = example["speaker_id"].decode()
      assert expected[speaker] == split
      seen[example["example_id"].decode()] = split
  assert sorted(seen) == sorted(written)  # every clip once, nothing dropped
  assert {s: builder.info.splits[s].num_examples for s in builder.info.splits} == {
      s: sum(1 for v in seen.values() if v == s) for s in ("train", "validation", "test")}


def test_example_features_match_the_raw_files(tone_dataset):
  builder, written, _, _ = tone_dataset
  label_names = builder.info.features["label"].names
  assert label_names == list(crema_d.LABELS)
  for examples in examples_by_split(builder).values():
    for example in examples:
      example_id = example["example_id"].decode()
      actor, _, emotion, _ = example_id.split("_")
      assert example["speaker_id"].decode() == actor
      assert label_names[example["label"]] == emotion
      assert example["audio"].dtype == np.int16
      np.testing.assert_array_equal(example["audio"], written[example_id])


def test_non_16k_files_are_resampled(tmp_path):
  write_tone_corpus(tmp_path / "raw", sentences=("DFA",))
  soundfile.write(str(tmp_path / "raw/AudioWAV/1001_DFA_ANG_XX.wav"), tone(300, 0.5, rate=44100), 44100)
  builder = build("noss/crema_d", tmp_path / "raw", tmp_path / "tfds")
  examples = {e["example_id"].decode(): e for s in builder.info.splits
              for e in tfds.as_numpy(builder.as_dataset(split=s))}
  assert len(examples["1001_DFA_ANG_XX"]["audio"]) == 8000


def test_a_misnamed_file_fails_the_build_naming_it(tmp_path):
  write_tone_corpus(tmp_path / "raw", sentences=("DFA",))
  soundfile.write(str(tmp_path / "raw/AudioWAV/1001_DFA_XYZ_XX.wav"), tone(300, 0.1), 16000)
  with pytest.raises(UserError, match="1001_DFA_XYZ_XX.wav"):
    build("noss/crema_d", tmp_path / "raw", tmp_path / "tfds")


def test_too_few_speakers_for_tfds_cut_is_explained(tmp_path):
  write_tone_corpus(tmp_path / "raw", actors=range(1001, 1011), sentences=("DFA",))
  with pytest.raises(UserError, match="10 speakers leave the validation split empty"):
    build("noss/crema_d", tmp_path / "raw", tmp_path / "tfds")


def test_a_missing_audio_folder_says_what_to_download(tmp_path):
  (tmp_path / "raw").mkdir()
  (tmp_path / "raw/summaryTable.csv").write_text("FileName\n")  # a folder, but not the clone's root
  with pytest.raises(UserError, match="(?s)no folder .*AudioWAV.*git lfs pull.*gitlab.com/cs-cooper-lab/crema-d-mirror"):
    build("noss/crema_d", tmp_path / "raw", tmp_path / "tfds")
