"""95% intervals: the vectorised bootstrap reproduces scikit-learn's metrics, resamples the right unit,
is deterministic, and every reported test number carries its interval (report.json, report.md)."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

import scoring_helpers as helpers
from nossbench.scoring import cli, intervals, metrics, predictions

CREMA = "noss/crema_d"


def test_a_replicate_of_unit_weights_is_the_metric_itself():
  rng = np.random.RandomState(0)
  y = rng.randint(0, 3, 400)
  pred = np.where(rng.rand(400) < 0.6, y, rng.randint(0, 3, 400))
  stats = intervals.ClassStats(y, pred, np.arange(400), 400, 3)
  found = {k: float(v[0]) for k, v in stats.metrics(np.ones((1, 400))).items()}
  assert found == pytest.approx(metrics.classification(y, pred, np.zeros((400, 3)), 3))
  positive = rng.rand(300) < 0.4
  score = np.round(rng.rand(300) + 0.4 * positive, 2)  # ties on purpose
  binary = intervals.binary_metrics(positive, score, np.ones((1, 300)), metrics.DCF_TARGET_PRIORS)
  expected = {**metrics.binary(positive, score), **metrics.verification(positive, score)}
  assert {k: float(v[0]) for k, v in binary.items()} == pytest.approx({k: expected[k] for k in binary})
  assert intervals.average_precision(positive, score, np.ones((1, 300)))[0] == pytest.approx(
      sk.average_precision_score(positive, score))


def test_weights_count_each_drawn_example_once_per_draw():
  y, pred = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
  stats = intervals.ClassStats(y, pred, np.arange(4), 4, 2)
  twice_the_wrong_one = np.array([[0, 2, 1, 1]], float)  # accuracy 2/4, class-0 recall 0
  found = stats.metrics(twice_the_wrong_one)
  assert found["accuracy"][0] == 0.5 and found["balanced_accuracy"][0] == 0.5


def test_speakers_are_resampled_when_there_are_enough_of_them():
  assert intervals.units(["a", "a", "b"])[1] == "example"
  unit, name = intervals.units(["s1", "s2", "s3", "s4", "s5", "s1"])
  assert name == "speaker" and list(unit) == [0, 1, 2, 3, 4, 0]
  assert intervals.units(["s1", "s2", "s3", "s4", ""])[1] == "example"


def test_cluster_bootstrap_is_wider_when_speakers_decide_correctness():
  speakers = np.repeat([f"s{i}" for i in range(20)], 30)
  right = np.repeat(np.arange(20) % 2 == 0, 30)  # each speaker all right or all wrong
  y = np.zeros(600, int)
  pred = np.where(right, 0, 1)
  by_speaker = intervals.classification(y, pred, np.zeros((600, 2)), speakers, 2, seed=0)
  by_example = intervals.classification(y, pred, np.zeros((600, 2)), np.array([""] * 600), 2, seed=0)
  width = lambda boot: np.subtract(*intervals.percentile(boot["replicates"]["accuracy"])[::-1])
  assert by_speaker["unit"] == "speaker" and by_example["unit"] == "example"
  assert width(by_speaker) > 3 * width(by_example)
  low, high = intervals.percentile(by_speaker["replicates"]["accuracy"])
  assert low < 0.5 < high


def test_the_same_seed_gives_the_same_interval():
  rng = np.random.RandomState(1)
  y, pred = rng.randint(0, 2, 200), rng.randint(0, 2, 200)
  run = lambda seed: intervals.classification(y, pred, np.zeros((200, 2)), np.array([""] * 200), 2, seed)["replicates"]
  assert np.array_equal(run(0)["accuracy"], run(0)["accuracy"])
  assert not np.array_equal(run(0)["accuracy"], run(1)["accuracy"])


def test_t_interval_of_the_mean_over_parts():
  low, high = intervals.of_mean([0.6, 0.7, 0.8])
  assert (low + high) / 2 == pytest.approx(0.7)
  assert high - low == pytest.approx(2 * 4.302653 * 0.1 / np.sqrt(3), rel=1e-5)  # t(0.975, 2) = 4.3027
  assert np.isnan(intervals.of_mean([0.6])).all()


def test_every_reported_number_carries_its_interval(tmp_path):
  rows = helpers.table(speakers=12, per_speaker=12, splits=("train",) * 5 + ("validation",) + ("test",) * 6)
  x = helpers.embeddings(rows, signal=0.6, speaker_offset=0.5)
  splits = tmp_path / "splits"
  helpers.write(splits, CREMA, "canonical", rows)
  helpers.write(splits, CREMA, "speaker_disjoint", pd.concat(
      [rows.assign(split=np.where(rows["speaker_id"].isin([f"spk{r}", f"spk{r + 4}", f"spk{r + 8}"]), "test",
                                  "train"), repeat=r) for r in range(3)], ignore_index=True))
  np.savez(tmp_path / "s.npz", example_id=rows["example_id"].to_numpy().astype(str), embedding=x)
  out = tmp_path / "out"
  assert cli.main([str(tmp_path / "s.npz"), "--task", CREMA, "--splits", str(splits), "--out", str(out),
                   "--models", "logreg"]) == 0
  report = json.loads((out / "report.json").read_text())
  canonical, repeats = (next(r for r in report["results"] if r["protocol"] == p)
                        for p in ("canonical", "speaker_disjoint"))
  for key in ("accuracy", "balanced_accuracy", "macro_f1", "micro_f1"):
    low, high = canonical[f"{key}_ci"]
    assert low <= canonical[key] <= high and low < high
  assert canonical["interval"]["unit"] == "speaker" and canonical["interval"]["n_units"] == 6
  assert canonical["interval"]["replicates"] == intervals.REPLICATES
  per_repeat = [p["accuracy"] for p in repeats["per_repeat"]]
  assert repeats["accuracy_ci"] == pytest.approx(intervals.of_mean(per_repeat))
  assert all("accuracy_ci" in p for p in repeats["per_repeat"])

  md = (out / "report.md").read_text()
  low, high = canonical["accuracy_ci"]
  assert f"{100 * canonical['accuracy']:.1f} [{100 * low:.1f}, {100 * high:.1f}]" in md
  assert f"± {100 * repeats['accuracy_std']:.1f} [" in md

  kept = predictions.read(out, canonical)  # the chosen probe's test predictions, for --compare
  test_ids = rows.loc[rows["split"] == "test", "example_id"]
  assert sorted(kept["example_id"]) == sorted(test_ids) and set(kept["unit"]) == set(
      rows.loc[rows["split"] == "test", "speaker_id"])
  assert np.mean(kept["predicted"] == kept["label"]) == pytest.approx(canonical["accuracy"])
  kept_repeats = predictions.read(out, repeats)
  assert sorted(set(kept_repeats["part"])) == [0, 1, 2]
