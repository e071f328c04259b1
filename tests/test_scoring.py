"""score-submission: strict validation with clear errors, probes, reports; never imports TensorFlow."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from nossbench.scoring import cli
from nossbench.splits import manifest

TASK = "noss/crema_d"


@pytest.fixture
def splits_root(tmp_path):
  """A canonical manifest: 6 speakers x 20 examples, labels a/b/c, 4 train / 1 validation / 1 test speakers."""
  rows = []
  for s, split in enumerate(["train"] * 4 + ["validation", "test"]):
    for i in range(20):
      rows.append((f"spk{s}_{i:02d}", "abc"[i % 3], f"spk{s}", split))
  table = pd.DataFrame(rows, columns=manifest.columns("canonical"))
  manifest.write_manifest(tmp_path / "splits", TASK, "canonical", table, {"seed": None})
  return tmp_path / "splits", table


def informative_embeddings(table, dims=8, seed=0):
  rng = np.random.RandomState(seed)
  centers = {label: rng.randn(dims) * 3 for label in "abc"}
  return np.stack([centers[label] + rng.randn(dims) for label in table["label"]]).astype(np.float32)


def score(tmp_path, splits, ids, embedding, *extra, name="sub.npz"):
  path = tmp_path / name
  np.savez(path, example_id=ids, embedding=embedding)
  return cli.main([str(path), "--task", TASK, "--splits", str(splits), "--out", str(tmp_path / "report"), *extra])


def test_valid_submission_scores_above_chance_and_writes_reports(tmp_path, splits_root, capsys):
  splits, table = splits_root
  ids = table["example_id"].to_numpy().astype(str)
  assert score(tmp_path, splits, ids[::-1], informative_embeddings(table)[::-1]) == 0  # order is free
  report = json.loads((tmp_path / "report/report.json").read_text())
  canonical = report["results"][0]
  assert canonical["protocol"] == "canonical" and canonical["n_test"] == 20
  assert canonical["accuracy"] > 0.9 > canonical["chance_accuracy"]
  assert "| canonical split (test) |" in (tmp_path / "report/report.md").read_text()
  assert "canonical split (test)" in capsys.readouterr().out


def test_every_problem_is_listed_at_once(tmp_path, splits_root, capsys):
  splits, table = splits_root
  ids = list(table["example_id"][2:]) + ["spk0_02", "ghost_1"]  # 2 missing, 1 duplicate, 1 unknown
  embedding = informative_embeddings(table.iloc[: len(ids)].assign(label="a"))
  embedding[5, 3] = np.nan
  assert score(tmp_path, splits, np.array(ids), embedding) == 2
  err = capsys.readouterr().err
  assert "4 problems" in err
  assert "1 example ids appear more than once: 'spk0_02'" in err
  assert "1 example ids are not in the task: 'ghost_1'" in err
  assert "2 example ids of the task are missing: 'spk0_00', 'spk0_01'" in err
  assert "1 embeddings hold NaN or Inf: 'spk0_07'" in err


@pytest.mark.parametrize("embedding, message", [
    (np.zeros((120,), np.float32), "must be [examples, dims]"),
    (np.zeros((120, 4), np.int32), "must be floating point"),
    (np.zeros((119, 4), np.float32), "120 example ids but 119 embedding rows"),
])
def test_wrong_shapes_and_dtypes(tmp_path, splits_root, capsys, embedding, message):
  splits, table = splits_root
  assert score(tmp_path, splits, table["example_id"].to_numpy().astype(str), embedding) == 2
  assert message in capsys.readouterr().err


def test_pickled_arrays_are_never_loaded(tmp_path, splits_root, capsys):
  splits, table = splits_root
  ids = np.array(list(table["example_id"]), dtype=object)
  assert score(tmp_path, splits, ids, informative_embeddings(table)) == 2
  assert "never loaded" in capsys.readouterr().err


def test_corrupt_and_missing_files(tmp_path, splits_root, capsys):
  splits, _ = splits_root
  (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
  assert cli.main([str(tmp_path / "bad.npz"), "--task", TASK, "--splits", str(splits)]) == 2
  assert "bad.npz: not a readable .npz file" in capsys.readouterr().err
  assert cli.main([str(tmp_path / "none.npz"), "--task", TASK, "--splits", str(splits)]) == 2
  assert "no such submission file" in capsys.readouterr().err


def test_oversized_submission_is_refused_before_reading(tmp_path, splits_root, capsys):
  splits, table = splits_root
  ids = table["example_id"].to_numpy().astype(str)
  assert score(tmp_path, splits, ids, informative_embeddings(table), "--max-bytes", "1000") == 2
  assert "over the" in capsys.readouterr().err


def test_constant_embeddings_warn(tmp_path, splits_root):
  splits, table = splits_root
  ids = table["example_id"].to_numpy().astype(str)
  assert score(tmp_path, splits, ids, np.ones((120, 4), np.float32), "--models", "logreg") == 0
  report = json.loads((tmp_path / "report/report.json").read_text())
  assert report["warnings"] == ["every embedding is identical: scores will be at chance"]


def test_score_submission_does_not_import_tensorflow():
  code = "import sys, nossbench.scoring.cli; print(any(m.startswith('tensorflow') for m in sys.modules))"
  assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
