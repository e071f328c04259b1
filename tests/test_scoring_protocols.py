"""Protocols on synthetic tasks whose answer is known: what is chosen, on what data, and what is reported."""

import numpy as np
import pandas as pd
import pytest

import scoring_helpers as helpers
from nossbench.scoring import grid, protocols, verification

FAST = ("logreg", "lda")


def scored(rows, x, run, models=FAST, **kwargs):
  task = protocols.Task("noss/toy", rows, x, jobs=1, model_names=models, **kwargs)
  with grid.Variants(x, task.speakers, task.normalizations) as variants:
    return run(task, variants)


def test_choice_never_looks_at_test_labels():
  rows = helpers.table(speakers=8, splits=("train",) * 5 + ("validation", "test", "test"))
  x = helpers.embeddings(rows, signal=0.6, speaker_offset=2.0)
  first = scored(rows, x, protocols.canonical)
  shuffled = rows.copy()
  test = shuffled["split"] == "test"
  shuffled.loc[test, "label"] = np.random.RandomState(1).permutation(shuffled.loc[test, "label"].to_numpy())
  second = scored(shuffled, x, protocols.canonical)
  assert (first["model"], first["normalization"]) == (second["model"], second["normalization"])
  assert [e["validation"] for e in first["grid"]] == [e["validation"] for e in second["grid"]]
  assert first["accuracy"] != second["accuracy"]
  assert first["n_train"] == 100 and first["n_validation"] == 20 and first["n_test"] == 40
  assert len(first["grid"]) == 2 * 4  # two models x four normalisations


def test_per_speaker_normalisation_wins_when_speakers_dominate():
  rows = helpers.table(speakers=12, splits=("train",) * 8 + ("validation", "validation", "test", "test"))
  x = helpers.embeddings(rows, dims=6, signal=0.7, speaker_offset=20.0)
  result = scored(rows, x, protocols.canonical, models=("logreg",))
  by_norm = {e["normalization"]: e["validation"]["accuracy"] for e in result["grid"]}
  assert result["normalization"] in ("speaker", "l2+speaker")
  assert by_norm["speaker"] > by_norm["none"] + 0.2
  assert result["accuracy"] > result["chance_accuracy"] + 0.3


def test_without_validation_rows_a_speaker_group_is_held_out():
  rows = helpers.table(speakers=16, splits=("train",) * 12 + ("test",) * 4)
  x = helpers.embeddings(rows)
  result = scored(rows, x, protocols.canonical)
  assert result["validation_source"] == "1 of 12 train speakers held out (seed 0)"
  assert (result["n_train"], result["n_validation"], result["n_test"]) == (220, 20, 80)


def repeats_table(rows, repeats=3):
  speakers = sorted(set(rows["speaker_id"]))
  parts = []
  for r in range(repeats):
    test = set(np.random.RandomState(r).permutation(speakers)[:2])
    parts.append(rows.assign(split=np.where(rows["speaker_id"].isin(test), "test", "train"), repeat=r))
  return pd.concat(parts, ignore_index=True)


def test_speaker_disjoint_repeats_mean_and_std():
  rows = helpers.table(speakers=8)
  x = helpers.embeddings(rows, signal=0.8)
  result = scored(rows, x, lambda t, v: protocols.speaker_disjoint(t, v, repeats_table(rows)))
  per = [r["accuracy"] for r in result["per_repeat"]]
  assert result["repeats"] == 3 and result["accuracy"] == pytest.approx(np.mean(per))
  assert result["accuracy_std"] == pytest.approx(np.std(per))
  assert all(r["n_test"] == 40 and r["n_validation"] == 20 for r in result["per_repeat"])  # 1 of 6 train speakers
  assert result["accuracy"] > 0.7


def test_kfold_validates_on_the_next_fold():
  rows = helpers.table(speakers=6, per_speaker=10)
  x = helpers.embeddings(rows)
  fold = np.arange(len(rows)) % 3
  table = pd.concat([rows.assign(split=np.where(fold == f, "test", "train"), fold=f, group="")
                     for f in range(3)], ignore_index=True)
  result = scored(rows, x, lambda t, v: protocols.kfold(t, v, table))
  assert result["folds"] == 3
  for part in result["per_fold"]:
    assert (part["n_train"], part["n_validation"], part["n_test"]) == (20, 20, 20)
    assert part["validation_source"] == f"fold {(part['fold'] + 1) % 3}'s test examples (the next fold)"
  assert result["accuracy"] > 0.9


def test_intra_speaker_per_speaker_then_repeats():
  rows = helpers.table(speakers=4, per_speaker=24, splits=("train",))
  x = helpers.embeddings(rows, signal=2.0)
  cuts = []
  for r in range(2):
    for s, part in rows.groupby("speaker_id"):
      order = np.random.RandomState(r).permutation(len(part))
      cuts.append(part.iloc[order].assign(split=["test"] * 6 + ["train"] * 18, repeat=r))
  cuts = pd.concat(cuts, ignore_index=True)
  single_class = (cuts["speaker_id"] == "spk3") & (cuts["split"] == "train") & (cuts["repeat"] == 1)
  cuts.loc[single_class, "label"] = "a"  # the manifest's labels are ignored: the canonical ones count
  result = scored(rows, x, lambda t, v: protocols.intra_speaker(t, v, cuts, ("logreg", "none")))
  assert result["speakers"] == 4 and result["repeats"] == 2 and result["n_fits"] == 8
  assert result["accuracy"] == pytest.approx(np.mean(result["per_repeat_accuracy"]))
  assert set(result["per_speaker_accuracy"]) == {"spk0", "spk1", "spk2", "spk3"}
  assert result["accuracy"] > 0.9


def test_intra_speaker_skips_single_class_train_cuts():
  rows = helpers.table(speakers=2, per_speaker=12, splits=("train",), labels=("a", "b"))
  rows.loc[rows["speaker_id"] == "spk1", "label"] = "a"
  x = helpers.embeddings(rows)
  cuts = rows.assign(split=np.where(np.arange(24) % 4 == 0, "test", "train"), repeat=0)
  result = scored(rows, x, lambda t, v: protocols.intra_speaker(t, v, cuts, ("logreg", "none")))
  assert result["skipped_single_class_train"] == {"spk1": [0]} and result["speakers"] == 1


def test_multilabel_task_scores_map_without_lda():
  rows = helpers.table(speakers=6, per_speaker=30)
  x = helpers.embeddings(rows, signal=3.0)
  rows = rows.drop(columns="label").assign(labels=[{"a": "a;x", "b": "b", "c": ""}[l] for l in helpers.table(
      speakers=6, per_speaker=30)["label"]])
  result = scored(rows, x, protocols.canonical, models=("logreg", "lda"))
  assert {e["model"] for e in result["grid"]} == {"logreg"}
  assert result["selected_on"] == "validation map"
  assert result["map"] > 0.95 and result["classes_scored"] == 3
  assert result["map_ci"][0] <= result["map"] <= result["map_ci"][1] and result["roc_auc_ci"][1] <= 1


def test_binary_task_reports_auc_eer_dprime():
  rows = helpers.table(labels=("control", "dementia"))
  x = helpers.embeddings(rows, signal=0.5)
  result = scored(rows, x, protocols.canonical, models=("logreg",))
  assert 0.5 < result["auc"] <= 1 and 0 <= result["eer"] < 0.5 and result["dprime"] > 0


def test_verification_eer_from_trials():
  rows = helpers.table(speakers=10, per_speaker=6)
  rng = np.random.RandomState(0)
  voice = {s: rng.randn(16) for s in sorted(set(rows["speaker_id"]))}
  x = np.stack([voice[s] + 0.3 * rng.randn(16) for s in rows["speaker_id"]]).astype(np.float32)
  ids = rows["example_id"].to_numpy()
  pairs = [(int(ids[i][:4] == ids[j][:4]), ids[i], ids[j]) for i in range(0, 60, 5) for j in range(1, 60, 7)]
  trials = pd.DataFrame(pairs, columns=["target", "enrol_id", "test_id"])
  positions = pd.Series(np.arange(len(ids)), index=ids)
  result = verification.score("noss/toy", x, positions, trials, 0, rows["speaker_id"].to_numpy())
  assert result["eer"] == 0.0 and result["min_dcf_p0.01"] == 0.0
  assert result["eer_ci"] == [0.0, 0.0] and result["interval"]["unit"] == "speaker"
  assert result["interval"]["n_units"] == len({p[1][:4] for p in pairs})  # the enrolment speakers
  assert result["n_trials"] == len(pairs) and result["n_target"] == sum(p[0] for p in pairs)
  noise = np.random.RandomState(2).randn(*x.shape).astype(np.float32)
  assert 0.25 < verification.score("noss/toy", noise, positions, trials, 0, rows["speaker_id"].to_numpy())["eer"] < 0.75


def test_parallel_workers_never_change_a_number(monkeypatch):
  rows = helpers.table(speakers=6, per_speaker=20)
  x = helpers.embeddings(rows, dims=16, signal=0.5, speaker_offset=1.0)
  monkeypatch.setattr(grid, "SMALL_WORK", 0)  # run in worker processes even though the task is tiny
  results = []
  for jobs in (1, 2):
    task = protocols.Task("noss/toy", rows, x, jobs=jobs, model_names=("logreg", "forest"))
    with grid.Variants(x, task.speakers, task.normalizations) as variants:
      results.append(protocols.canonical(task, variants))
  assert results[0] == results[1]


def test_intra_speaker_uses_the_best_logistic_regression_on_canonical_validation():
  entry = lambda model, norm, accuracy: {"model": model, "normalization": norm, "validation": {"accuracy": accuracy}}
  canonical = {"model": "forest", "normalization": "l2", "grid": [
      entry("logreg", "none", 0.5), entry("logreg", "speaker", 0.8), entry("logreg_balanced", "l2", 0.8),
      entry("forest", "l2", 0.9)]}
  assert protocols.intra_speaker_config(canonical, "accuracy") == ("logreg", "speaker")  # ties: the earlier
  assert protocols.intra_speaker_config({**canonical, "grid": canonical["grid"][3:]}, "accuracy") == ("forest", "l2")
