"""`noss/dementiabank` from the Pitt cookie-theft mp3 folders: TFDS's own split, participants disjoint."""

import os

import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.audio import dementiabank as tfds_dementiabank  # the reference

from builder_helpers import examples, write_dementiabank
from conftest import build
from nossbench import UserError


@pytest.fixture(scope="module")
def dementiabank(tmp_path_factory):
  # 12 participants: int(0.7 * 12) = 8 train, int(0.7999999999999999 * 12) = 9, so one for validation.
  root = tmp_path_factory.mktemp("dementia bank Ü")  # spaces and unicode in the path
  written = write_dementiabank(root / "raw")
  return build("noss/dementiabank", root / "raw", root / "tfds"), written, root


def test_splits_hold_exactly_the_examples_tfds_puts_there(dementiabank):
  builder, _, root = dementiabank
  reference = tfds_dementiabank.Dementiabank(data_dir=str(root / "reference"))
  manager = tfds.download.DownloadManager(download_dir=str(root / "downloads"), manual_dir=str(root / "raw"),
                                          manual_dir_instructions="Pitt")
  tfds_keys = {g.name: sorted(os.path.basename(e["audio"]) for e in g.gen_kwargs["examples"])
               for g in reference._split_generators(manager)}  # pylint: disable=protected-access
  ours = {split: sorted(i.split("/")[1] + ".mp3" for i in by_id) for split, by_id in examples(builder).items()}
  assert ours == tfds_keys
  assert {split: len(keys) for split, keys in ours.items()} == {"train": 16, "validation": 2, "test": 6}


def test_participants_disjoint_labels_from_folders_audio_resampled(dementiabank):
  builder, written, _ = dementiabank
  names = builder.info.features["label"].names
  assert names == ["dementia", "control"]
  seen = {}
  for split, by_id in examples(builder).items():
    for example_id, example in by_id.items():
      label, participant = written[example_id]
      assert (names[example["label"]], example["speaker_id"].decode()) == (label, participant)
      assert seen.setdefault(participant, split) == split
      assert abs(len(example["audio"]) - 1600) < 1200  # 0.1 s of 44.1 kHz mp3, decoder padding aside
  assert len(seen) == 12


def test_a_misnamed_file_fails_the_build_naming_it(tmp_path):
  write_dementiabank(tmp_path / "raw")
  (tmp_path / "raw/dementia/English/Pitt/Control/cookie/notes.MP3").write_bytes(b"")
  with pytest.raises(UserError, match="notes.MP3 is not named <participant>-<visit>.mp3"):
    build("noss/dementiabank", tmp_path / "raw", tmp_path / "tfds")
