"""--compare: paired differences on the same test examples, Holm-corrected, and protocol ids that must match."""

import json

import numpy as np
import pandas as pd
import pytest

import scoring_helpers as helpers
from nossbench.scoring import cli, compare

CREMA = "noss/crema_d"


@pytest.fixture(name="task")
def fixture_task(tmp_path):
  rows = helpers.table(speakers=12, per_speaker=12, splits=("train",) * 5 + ("validation",) + ("test",) * 6)
  splits = tmp_path / "splits"
  helpers.write(splits, CREMA, "canonical", rows)
  return rows, splits


def _save(path, rows, x):
  np.savez(path, example_id=rows["example_id"].to_numpy().astype(str), embedding=x)
  return str(path)


def _score(path, splits, out, *extra):
  assert cli.main([path, "--task", CREMA, "--splits", str(splits), "--out", str(out), "--models", "logreg",
                   *extra]) == 0
  return str(out)


def test_holm_adjusts_step_down():
  assert compare.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
  assert compare.holm([0.5, float("nan"), 0.01]) == pytest.approx([0.5, float("nan"), 0.02], nan_ok=True)


def test_a_real_gap_is_significant_and_a_tiny_one_is_not(tmp_path, task, capsys):
  rows, splits = task
  good = helpers.embeddings(rows, signal=1.0)
  twin = good + np.random.RandomState(9).randn(*good.shape).astype(np.float32) * 0.01
  noise = np.random.RandomState(5).randn(*good.shape).astype(np.float32)
  reports = [_score(_save(tmp_path / f"{n}.npz", rows, x), splits, tmp_path / n)
             for n, x in (("good", good), ("twin", twin), ("noise", noise))]
  capsys.readouterr()
  assert cli.main(["--compare", *reports, "--out", str(tmp_path / "cmp")]) == 0
  found = json.loads((tmp_path / "cmp/report.json").read_text())["comparisons"]
  pairs = {(p["a"], p["b"]): p for p in found["pairs"]}
  assert set(pairs) == {("good.npz", "twin.npz"), ("good.npz", "noise.npz"), ("twin.npz", "noise.npz")}
  real, tiny = pairs[("good.npz", "noise.npz")], pairs[("good.npz", "twin.npz")]
  good_report = json.loads((tmp_path / "good/report.json").read_text())["results"][0]
  noise_report = json.loads((tmp_path / "noise/report.json").read_text())["results"][0]
  assert real["difference"] == pytest.approx(good_report["accuracy"] - noise_report["accuracy"])
  assert real["difference_ci"][0] > 0 and real["significant"] and real["mcnemar"]["p"] < 0.01
  assert [p["p_holm"] for p in found["pairs"]] == compare.holm([p["p_bootstrap"] for p in found["pairs"]])
  assert not tiny["significant"] and tiny["difference_ci"][0] <= tiny["difference"] <= tiny["difference_ci"][1]
  assert found["correction"].startswith("Holm over all 3")
  md = (tmp_path / "cmp/report.md").read_text()
  assert "significant at α = 0.05 after Holm" in md and "Holm over all 3 paired comparisons" in md
  row = next(line for line in md.splitlines() if "good.npz − noise.npz" in line)
  assert row.rstrip().endswith("| **yes** |")
  row = next(line for line in md.splitlines() if "good.npz − twin.npz" in line)
  assert row.rstrip().endswith("| no |")


def test_different_protocols_are_refused_naming_the_fields(tmp_path, task, capsys):
  rows, splits = task
  x = helpers.embeddings(rows)
  first = _score(_save(tmp_path / "a.npz", rows, x), splits, tmp_path / "a")
  other = _score(_save(tmp_path / "b.npz", rows, x), splits, tmp_path / "b", "--seed", "3")
  capsys.readouterr()
  assert cli.main(["--compare", first, other, "--out", str(tmp_path / "cmp")]) == 2
  error = capsys.readouterr().err
  assert "different protocol ids" in error and "b.npz differs from a.npz in seed" in error
  assert "--allow-mixed-protocols" in error
  assert cli.main(["--compare", first, other, "--out", str(tmp_path / "cmp"), "--allow-mixed-protocols"]) == 0
  md = (tmp_path / "cmp/report.md").read_text()
  assert next(line for line in md.splitlines() if line.startswith("| b.npz |")).rstrip().endswith("† |")
  assert "- noss/crema_d canonical, b.npz: seed" in md
  assert json.loads((tmp_path / "cmp/report.json").read_text())["comparisons"]["pairs"] == []


def test_a_changed_predictions_file_is_refused(tmp_path, task, capsys):
  rows, splits = task
  x = helpers.embeddings(rows)
  first = _score(_save(tmp_path / "a.npz", rows, x), splits, tmp_path / "a")
  second = _score(_save(tmp_path / "b.npz", rows, x), splits, tmp_path / "b")
  kept = tmp_path / "b/predictions/noss__crema_d.canonical.npz"
  kept.write_bytes(kept.read_bytes() + b"x")
  capsys.readouterr()
  assert cli.main(["--compare", first, second, "--out", str(tmp_path / "cmp")]) == 2
  assert "does not match the sha256" in capsys.readouterr().err


def test_repeats_and_verification_are_paired_too(tmp_path, task, capsys):
  rows, splits = task
  helpers.write(splits, CREMA, "speaker_disjoint", pd.concat(
      [rows.assign(split=np.where(rows["speaker_id"].isin([f"spk{r}", f"spk{r + 4}", f"spk{r + 8}"]), "test",
                                  "train"), repeat=r) for r in range(2)], ignore_index=True))
  ids = rows["example_id"].to_numpy()
  helpers.write(splits, CREMA, "trials", pd.DataFrame(
      [(int(ids[i][:5] == ids[j][:5]), ids[i], ids[j]) for i in range(0, len(ids), 7) for j in range(3, len(ids), 13)],
      columns=["target", "enrol_id", "test_id"]))
  voices = helpers.embeddings(rows, signal=1.0, speaker_offset=3.0)  # speakers stand out: a low EER
  noise = np.random.RandomState(5).randn(*voices.shape).astype(np.float32)
  reports = [_score(_save(tmp_path / f"{n}.npz", rows, x), splits, tmp_path / n) for n, x in (("voices", voices),
                                                                                              ("noise", noise))]
  capsys.readouterr()
  assert cli.main(["--compare", *reports, "--out", str(tmp_path / "cmp")]) == 0
  pairs = {p["protocol"]: p for p in json.loads((tmp_path / "cmp/report.json").read_text())["comparisons"]["pairs"]}
  assert set(pairs) == {"canonical", "speaker_disjoint", "verification"}
  verification = pairs["verification"]
  assert verification["metric"] == "eer" and verification["difference"] < 0 and verification["significant"]
  repeats = pairs["speaker_disjoint"]
  results = [json.loads((tmp_path / n / "report.json").read_text())["results"] for n in ("voices", "noise")]
  means = [next(r for r in res if r["protocol"] == "speaker_disjoint")["accuracy"] for res in results]
  assert repeats["difference"] == pytest.approx(means[0] - means[1])
  assert repeats["mcnemar"]["p"] is not None  # the two repeats test different speakers: each example once
