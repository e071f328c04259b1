"""score-submission as a user runs it: every scheme of a task, several tasks at once, and --compare."""

import json

import numpy as np
import pandas as pd

import scoring_helpers as helpers
from nossbench.scoring import cli

CREMA, SAVEE, VOX = "noss/crema_d", "noss/savee", "noss/voxceleb"


def save(path, rows, x):
  np.savez(path, example_id=rows["example_id"].to_numpy().astype(str), embedding=x)
  return path


def test_every_scheme_of_a_task_is_scored(tmp_path, capsys):
  rows = helpers.table(speakers=8)
  x = helpers.embeddings(rows, signal=1.5)
  splits = tmp_path / "splits"
  helpers.write(splits, CREMA, "canonical", rows)
  helpers.write(splits, CREMA, "speaker_disjoint", pd.concat(
      [rows.assign(split=np.where(rows["speaker_id"].isin([f"spk{r}", f"spk{r + 3}"]), "test", "train"), repeat=r)
       for r in range(2)], ignore_index=True))
  helpers.write(splits, CREMA, "kfold", pd.concat(
      [rows.assign(split=np.where(np.arange(len(rows)) % 3 == f, "test", "train"), fold=f, group="")
       for f in range(3)], ignore_index=True))
  helpers.write(splits, CREMA, "intra_speaker", rows.assign(
      split=np.where(np.arange(len(rows)) % 5 == 0, "test", "train"), repeat=0))
  ids = rows["example_id"].to_numpy()
  trials = pd.DataFrame([(int(ids[i][:4] == ids[j][:4]), ids[i], ids[j]) for i in range(0, 160, 9)
                         for j in range(3, 160, 11)], columns=["target", "enrol_id", "test_id"])
  helpers.write(splits, CREMA, "trials", trials)
  out = tmp_path / "out"
  assert cli.main([str(save(tmp_path / "s.npz", rows, x)), "--task", CREMA, "--splits", str(splits),
                   "--out", str(out), "--models", "logreg,lda"]) == 0
  report = json.loads((out / "report.json").read_text())
  results = {r["protocol"]: r for r in report["results"]}
  assert list(results) == ["canonical", "speaker_disjoint", "kfold", "intra_speaker", "verification"]
  assert results["speaker_disjoint"]["repeats"] == 2 and results["kfold"]["folds"] == 3
  assert results["intra_speaker"]["speakers"] == 8
  assert results["verification"]["n_trials"] == len(trials)
  for r in results.values():
    assert {"protocol", "model", "normalization", "seed"} <= set(r), r["protocol"]
  md = (out / "report.md").read_text()
  assert "| speaker-disjoint repeats (test) |" in md and "| k-fold (test) |" in md
  assert "## Intra-speaker accuracy (%), NOSS Table 3 layout" in md and "| EER (%) |" in md
  png = (out / "report.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
  assert "| canonical split (test) |" in capsys.readouterr().out


def test_several_tasks_in_one_report_and_side_by_side(tmp_path, capsys):
  splits = tmp_path / "splits"
  crema, savee = helpers.table(speakers=6), helpers.table(speakers=6, per_speaker=10, labels=("x", "y"))
  helpers.write(splits, CREMA, "canonical", crema)
  helpers.write(splits, SAVEE, "canonical", savee)
  good = [f"{CREMA}={save(tmp_path / 'c.npz', crema, helpers.embeddings(crema))}",
          f"{SAVEE}={save(tmp_path / 's.parquet.npz', savee, helpers.embeddings(savee))}"]
  assert cli.main([*good, "--splits", str(splits), "--out", str(tmp_path / "good"), "--models", "logreg",
                   "--name", "good"]) == 0
  report = json.loads((tmp_path / "good/report.json").read_text())
  assert [t["task"] for t in report["tasks"]] == [CREMA, SAVEE]
  md = (tmp_path / "good/report.md").read_text()
  assert f"| protocol | {CREMA} | {SAVEE} |" in md

  noise = np.random.RandomState(5).randn(len(crema), 8).astype(np.float32)
  save(tmp_path / "noise.npz", crema, noise)
  capsys.readouterr()
  assert cli.main(["--compare", str(tmp_path / "good"), str(tmp_path / "noise.npz"), "--task", CREMA,
                   "--splits", str(splits), "--out", str(tmp_path / "cmp"), "--models", "logreg"]) == 0
  compared = json.loads((tmp_path / "cmp/report.json").read_text())["compare"]
  assert [r.get("name") for r in compared] == ["good", "noise.npz"]
  md = (tmp_path / "cmp/report.md").read_text()
  assert f"| submission | {CREMA} | {SAVEE} |" in md
  good_row = next(line for line in md.splitlines() if line.startswith("| good |"))
  noise_row = next(line for line in md.splitlines() if line.startswith("| noise.npz |"))
  value = lambda row: float(row.split("|")[2].split(" [")[0])  # "97.5 [93.3, 100.0]"
  assert value(good_row) > 90 and value(noise_row) < 70
  assert noise_row.split("|")[3].strip() == "–"  # noise was scored for crema_d only
  assert (tmp_path / "cmp/noise.npz/report.json").exists() and (tmp_path / "cmp/report.png").exists()


def test_problems_of_every_task_are_listed_together(tmp_path, capsys):
  splits = tmp_path / "splits"
  crema, savee = helpers.table(), helpers.table(speakers=6, per_speaker=10)
  helpers.write(splits, CREMA, "canonical", crema)
  helpers.write(splits, SAVEE, "canonical", savee)
  x = helpers.embeddings(crema)
  x[0, 0] = np.nan
  args = [f"{CREMA}={save(tmp_path / 'c.npz', crema, x)}",
          f"{SAVEE}={save(tmp_path / 's.npz', savee.iloc[1:], helpers.embeddings(savee.iloc[1:]))}"]
  assert cli.main([*args, "--splits", str(splits), "--out", str(tmp_path / "o")]) == 2
  err = capsys.readouterr().err
  assert "noss/crema_d: " in err and "1 embeddings hold NaN or Inf: 'spk0_00'" in err
  assert "noss/savee: " in err and "1 example ids of the task are missing: 'spk0_00'" in err
  assert not (tmp_path / "o").exists()


def test_user_mistakes_get_one_line_fixes(tmp_path, capsys):
  splits = tmp_path / "splits"
  helpers.write(splits, CREMA, "canonical", helpers.table())
  assert cli.main([str(tmp_path / "x.npz"), "--splits", str(splits)]) == 2
  assert "which task is it for? Give --task, or write it as TASK=PATH" in capsys.readouterr().err
  assert cli.main([str(tmp_path / "x.npz"), "--task", CREMA, "--splits", str(splits), "--models", "svm"]) == 2
  assert "--models: unknown ['svm']" in capsys.readouterr().err
  assert cli.main([str(tmp_path / "x.txt"), "--task", VOX, "--splits", str(splits)]) == 2
  assert "no canonical manifest for noss/voxceleb" in capsys.readouterr().err
  assert cli.main([str(tmp_path / "x.npz"), "--task", CREMA, "--splits", str(splits), "--json"]) == 2
  assert json.loads(capsys.readouterr().out)["problems"][0]["message"].endswith("no such submission file or folder")
  rows = helpers.table()
  path = save(tmp_path / "ok.npz", rows, helpers.embeddings(rows))
  assert cli.main([str(path), "--task", CREMA, "--splits", str(splits), "--select-by", "auc"]) == 2
  assert "--select-by auc does not apply to noss/crema_d; choose among accuracy, balanced_accuracy" in \
      capsys.readouterr().err
