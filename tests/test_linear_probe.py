"""The HARES-size probe: a minibatch-trained linear layer that repeats its numbers, learns, stops early, and is
chosen by score-submission for large non-NOSS tasks."""

import json

import numpy as np
import pandas as pd
import pytest

import scoring_helpers as helpers
from nossbench.scoring import cli, linear_probe, metrics
from nossbench.splits import manifest

SMALL = linear_probe.Settings(batch_size=64, learning_rate=0.01, max_epochs=40, patience=3, chunk_bytes=64 * 16 * 4,
                              threads=1)


def single_label(n=900, dims=16, classes=4, seed=0):
  rng = np.random.RandomState(seed)
  y = rng.randint(classes, size=n)
  centres = rng.randn(classes, dims) * 1.2
  return (centres[y] + rng.randn(n, dims)).astype(np.float32), y


def multi_label(n=900, dims=16, labels=6, seed=1):
  rng = np.random.RandomState(seed)
  y = (rng.rand(n, labels) < 0.25).astype(np.uint8)
  directions = rng.randn(labels, dims)
  return (y @ directions + rng.randn(n, dims)).astype(np.float32), y


def rows(n):
  positions = np.arange(n)
  return positions[positions % 5 < 3], positions[positions % 5 == 3], positions[positions % 5 == 4]


def fit(x, y, multilabel, settings=SMALL, seed=0):
  train, validation, test = rows(len(x))
  n_classes = y.shape[1] if multilabel else int(y.max()) + 1
  return linear_probe.fit(x, y, train, validation, (("validation", validation), ("test", test)), n_classes,
                          multilabel, seed, settings)


def test_single_label_repeats_exactly_and_beats_chance():
  x, y = single_label()
  first, second = fit(x, y, False), fit(x, y, False)
  assert np.array_equal(first.scores["test"], second.scores["test"])
  assert first.info["validation_history"] == second.info["validation_history"]
  test = rows(len(x))[2]
  accuracy = np.mean(first.predictions["test"] == y[test])
  assert accuracy > 0.7  # chance is about 0.25 with four balanced classes
  assert first.scores["test"].shape == (len(test), 4)
  assert np.allclose(first.scores["test"].sum(axis=1), 1, atol=1e-5)
  other_seed = fit(x, y, False, seed=1)
  assert not np.array_equal(other_seed.scores["test"], first.scores["test"])  # the seed orders the minibatches


def test_multi_label_repeats_exactly_and_beats_chance():
  x, y = multi_label()
  first, second = fit(x, y, True), fit(x, y, True)
  assert np.array_equal(first.scores["test"], second.scores["test"])
  test = rows(len(x))[2]
  found = metrics.multilabel(y[test], first.scores["test"])
  prevalence = y[test].mean()  # the mAP of scores that know nothing
  assert found["map"] > prevalence + 0.4 and found["classes_scored"] == 6
  assert first.info["validation_metric"] == "map" and not first.predictions


def test_training_stops_when_validation_stops_improving():
  x, y = single_label(seed=3)
  result = fit(x, y, False, linear_probe.Settings(batch_size=32, learning_rate=0.05, max_epochs=300, patience=2,
                                                  threads=1))
  info = result.info
  assert info["stopped_early"] and info["epochs"] < 300
  assert info["epochs"] == info["best_epoch"] + 2  # two epochs without improvement after the best one
  assert max(info["validation_history"]) == info["validation_history"][info["best_epoch"] - 1]
  best_accuracy = np.mean(result.predictions["validation"] == y[rows(len(x))[1]])
  assert best_accuracy == pytest.approx(max(info["validation_history"]), abs=1e-6)  # the kept weights are the best


def test_a_memory_mapped_matrix_gives_the_same_numbers_as_one_in_memory(tmp_path):
  x, y = multi_label()
  np.save(tmp_path / "x.npy", x)
  mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
  in_memory, from_disk = fit(x, y, True), fit(mapped, y, True)
  assert np.array_equal(in_memory.scores["test"], from_disk.scores["test"])


def test_choice_of_probe():
  assert linear_probe.choose("hares/audioset", 2_000_000)[0] == "linear"
  assert linear_probe.choose("hares/esc50", 2_000)[0] == "grid"
  assert linear_probe.choose("noss/speech_commands", 2_000_000)[0] == "grid"  # NOSS tasks keep the NOSS grid
  assert linear_probe.choose("noss/crema_d", 10, "linear")[0] == "linear"


def _multilabel_task(tmp_path, task, n=600):
  x, y = multi_label(n=n)
  ids = np.array([f"clip{i:04d}" for i in range(n)])
  labels = [";".join(f"tag{j}" for j in np.flatnonzero(row)) for row in y]
  splits = np.array(["train", "train", "train", "validation", "test"])[np.arange(n) % 5]
  table = pd.DataFrame({"example_id": ids, "labels": labels, "speaker_id": "", "split": splits})
  manifest.write_manifest(tmp_path / "splits", task, "canonical", table, {"seed": 0})
  np.savez(tmp_path / "sub.npz", example_id=ids, embedding=x)
  return tmp_path / "sub.npz"


def test_score_submission_picks_the_linear_probe_above_the_threshold_and_says_so(tmp_path):
  submission = _multilabel_task(tmp_path, "hares/audioset")
  common = [str(submission), "--task", "hares/audioset", "--splits", str(tmp_path / "splits"), "--models", "logreg"]
  assert cli.main(common + ["--out", str(tmp_path / "big"), "--linear-above", "500"]) == 0
  assert cli.main(common + ["--out", str(tmp_path / "small"), "--linear-above", "1000"]) == 0
  big = json.loads((tmp_path / "big/report.json").read_text())
  canonical = big["results"][0]
  assert canonical["model"] == "linear" and canonical["probe"]["validation_metric"] == "map"
  assert canonical["map"] > 0.6 and canonical["n_train"] == 360
  assert any("linear layer" in note and "over the 500" in note for note in big["notes"])
  markdown = (tmp_path / "big/report.md").read_text()
  assert "linear layer (PyTorch" in markdown and "kept epoch" in markdown
  small = json.loads((tmp_path / "small/report.json").read_text())
  assert small["results"][0]["model"] == "logreg" and "probe" not in small["results"][0]
  assert any("NOSS grid" in note for note in small["notes"])


def test_noss_tasks_keep_the_grid_unless_asked(tmp_path):
  table = helpers.table(speakers=6, per_speaker=30)
  helpers.write(tmp_path / "splits", "noss/crema_d", "canonical", table)
  np.savez(tmp_path / "s.npz", example_id=table["example_id"].to_numpy(str), embedding=helpers.embeddings(table))
  common = [str(tmp_path / "s.npz"), "--task", "noss/crema_d", "--splits", str(tmp_path / "splits"),
            "--models", "logreg", "--linear-above", "10"]
  assert cli.main(common + ["--out", str(tmp_path / "auto")]) == 0
  assert cli.main(common + ["--out", str(tmp_path / "asked"), "--probe", "linear"]) == 0
  auto = json.loads((tmp_path / "auto/report.json").read_text())["results"][0]
  asked = json.loads((tmp_path / "asked/report.json").read_text())["results"][0]
  assert auto["model"] == "logreg" and asked["model"] == "linear"
  assert asked["accuracy"] > 0.9 and asked["chance_accuracy"] < 0.5
