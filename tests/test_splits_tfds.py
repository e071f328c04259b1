"""prepare-splits on TFDS datasets with a dataset's own folds, multi-label `labels`, extra grouping
features and verification trials in the metadata (written with TFDS's external-TFRecord API)."""

import numpy as np
import pandas as pd
import pytest
import tensorflow_datasets as tfds

from nossbench.splits import cli, manifest, tfds_reader
from splits_helpers import features, write_tfds_dataset

SILENCE = np.zeros(4, np.int16)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """fixture/esc (own folds), fixture/tags (multi-label, locations, 3 shards), fixture/vox (trials)."""
  root = tmp_path_factory.mktemp("tfds")
  esc = [{"example_id": f"{f}-{i:03d}-A", "audio": SILENCE, "label": ["dog", "rain"][i % 2], "speaker_id": "",
          "fold": f, "src_file": f"{f}{i // 2}"} for f in range(1, 6) for i in range(6)]
  write_tfds_dataset(root, "fixture/esc", features(["dog", "rain"], fold=np.int32, src_file=tfds.features.Text()),
                     {"train": [esc[:18]], "validation": [esc[18:24]], "test": [esc[24:]]})
  tags = [{"example_id": f"clip{i:03d}", "audio": SILENCE, "labels": [["rock"], ["rock", "guitar"], []][i % 3],
           "speaker_id": f"artist{i % 8}", "location": f"city{i % 5}"} for i in range(60)]
  write_tfds_dataset(root, "fixture/tags", features(["guitar", "rock"], multi_label=True,
                                                    location=tfds.features.Text()),
                     {"train": [tags[:20], tags[20:35], tags[35:45]], "test": [tags[45:]]})
  vox = [{"example_id": f"id{s}/yt/{i:05d}", "audio": SILENCE, "label": f"id{s}", "speaker_id": f"id{s}"}
         for s in range(3) for i in range(4)]
  trials = [[1, "id0/yt/00000", "id0/yt/00001"], [0, "id0/yt/00000", "id2/yt/00003"]]
  write_tfds_dataset(root, "fixture/vox", features(["id0", "id1", "id2"]), {"train": [vox]},
                     metadata={"verification_trials": trials})
  write_tfds_dataset(root, "fixture/badvox", features(["id0", "id1", "id2"]), {"train": [vox]},
                     metadata={"verification_trials": trials + [[1, "id0/yt/00002", "id7/yt/00001"]]})
  return root, {"esc": esc, "tags": tags}


def prepare(data_dir, task, out, *flags) -> int:
  return cli.main([task, "--data_dir", str(data_dir), "--out", str(out), *map(str, flags)])


def test_the_record_reader_gives_what_tfds_decodes(data_dir):
  builder = tfds.builder("fixture/tags", data_dir=str(data_dir[0]))
  fast = tfds_reader.read_examples(builder, ["location"], via_records=True)
  pd.testing.assert_frame_equal(fast, tfds_reader.read_examples(builder, ["location"], via_records=False))
  expected = {t["example_id"]: ";".join(t["labels"]) for t in data_dir[1]["tags"]}
  assert dict(zip(fast["example_id"], fast["labels"])) == expected
  assert list(fast["example_id"]) == sorted(expected)  # sorted, whatever the shard order


def test_kfold_uses_a_datasets_own_folds(data_dir, tmp_path, capsys):
  assert prepare(data_dir[0], "fixture/esc", tmp_path, "--kfold", "5") == 0
  assert "kfold: 5 folds, the dataset's own folds" in capsys.readouterr().out
  folds, sidecar = manifest.read_manifest(tmp_path, "fixture/esc", "kfold")
  tests = folds[folds.split == "test"]
  assert dict(zip(tests.example_id, tests.fold)) == {e["example_id"]: e["fold"] for e in data_dir[1]["esc"]}
  assert sidecar["params"]["folds_from"] == "dataset feature fold" and len(folds) == 5 * 30

  assert prepare(data_dir[0], "fixture/esc", tmp_path, "--kfold", "3") == 2
  assert "ships its own 5 folds (1, 2, 3, 4, 5, feature `fold`); use --kfold 5" in capsys.readouterr().err
  assert prepare(data_dir[0], "fixture/esc", tmp_path, "--kfold", "5", "--group", "src_file") == 2
  assert "--group and --hash-assign do not apply" in capsys.readouterr().err


def test_multi_label_task_with_a_grouping_feature(data_dir, tmp_path, capsys):
  assert prepare(data_dir[0], "fixture/tags", tmp_path, "--kfold", "5", "--group", "location",
                 "--speaker-disjoint", "--repeats", "2") == 0
  canonical, sidecar = manifest.read_manifest(tmp_path, "fixture/tags", "canonical")
  assert sidecar["columns"] == ["example_id", "labels", "speaker_id", "split"]
  assert dict(zip(canonical.example_id, canonical.labels)) == {
      t["example_id"]: ";".join(t["labels"]) for t in data_dir[1]["tags"]}
  folds, sidecar = manifest.read_manifest(tmp_path, "fixture/tags", "kfold")
  assert sidecar["params"]["group"] == "location"
  tests = folds[folds.split == "test"]
  assert sorted(tests.example_id) == sorted(canonical.example_id)
  assert (tests.groupby("group")["fold"].nunique() == 1).all() and tests["group"].nunique() == 5
  disjoint, _ = manifest.read_manifest(tmp_path, "fixture/tags", "speaker_disjoint")
  assert len(disjoint) == 2 * 60
  assert prepare(data_dir[0], "fixture/tags", tmp_path, "--kfold", "2", "--group", "studio") == 2
  assert "has no feature studio; it has example_id, location, speaker_id" in capsys.readouterr().err


def test_verification_trials_become_a_checked_manifest(data_dir, tmp_path, capsys):
  assert prepare(data_dir[0], "fixture/vox", tmp_path) == 0
  assert "trials: 2 verification pairs (1 same-speaker)" in capsys.readouterr().out
  pairs, sidecar = manifest.read_manifest(tmp_path, "fixture/vox", "trials")
  assert pairs.values.tolist() == [[1, "id0/yt/00000", "id0/yt/00001"], [0, "id0/yt/00000", "id2/yt/00003"]]
  assert sidecar["columns"] == ["target", "enrol_id", "test_id"]
  assert cli.main(["--check", str(tmp_path)]) == 0
  assert prepare(data_dir[0], "fixture/badvox", tmp_path / "bad") == 2
  assert "1 example ids named by verification_trials are not in the dataset: id7/yt/00001" in capsys.readouterr().err
  assert not (tmp_path / "bad").exists()  # nothing written when a scheme fails


def test_tasks_without_speakers_refuse_speaker_schemes(data_dir, tmp_path, capsys):
  assert prepare(data_dir[0], "fixture/esc", tmp_path, "--speaker-disjoint") == 2
  assert "this task has no speaker ids, so it has no speaker-disjoint splits" in capsys.readouterr().err
  assert prepare(data_dir[0], "fixture/esc", tmp_path, "--intra-speaker") == 2
  assert "no speaker has 2 or more examples" in capsys.readouterr().err
  assert not tmp_path.joinpath("fixture").exists()


def test_lists_import_through_the_command(data_dir, tmp_path, capsys):
  lists = tmp_path / "lists"
  lists.mkdir()
  (lists / "train.txt").write_text("wav/id0/yt/00000.wav\nwav/id0/yt/00001.wav\nid1/yt/00000\n")
  (lists / "test.txt").write_text("id2/yt/00003.wav\n")
  assert prepare(data_dir[0], "fixture/vox", tmp_path / "m", "--from-lists", lists) == 0
  assert "8 examples are in no list: left out (listed in the sidecar)" in capsys.readouterr().out
  rows, sidecar = manifest.read_manifest(tmp_path / "m", "fixture/vox", "lists")
  assert dict(zip(rows.example_id, rows.split)) == {"id0/yt/00000": "train", "id0/yt/00001": "train",
                                                   "id1/yt/00000": "train", "id2/yt/00003": "test"}
  assert len(sidecar["params"]["unlisted_examples"]) == 8 and sidecar["params"]["lists"]["test.txt"]["entries"] == 1
