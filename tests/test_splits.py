"""prepare-splits end to end on a built noss/crema_d: every scheme, byte-identical reruns, the check."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from nossbench.splits import cli, intra_speaker, manifest
from splits_helpers import speaker_table

SCHEMES = ("--intra-speaker", "--speaker-disjoint", "--kfold", "4")
FILES = ("canonical", "intra_speaker", "speaker_disjoint", "kfold")


def test_intra_speaker_cuts_each_speaker_once_per_repeat():
  table = speaker_table({"s1": 10, "s2": 7, "s3": 1})
  cuts, skipped = intra_speaker.intra_speaker_splits(table, repeats=3, test_fraction=0.2, seed=0)
  assert skipped == {"s3": 1}
  assert set(cuts["repeat"]) == {0, 1, 2}
  for (repeat, speaker), rows in cuts.groupby(["repeat", "speaker_id"]):
    assert sorted(rows["example_id"]) == sorted(table[table.speaker_id == speaker]["example_id"])
    assert set(rows["split"]) == {"train", "test"}
    assert (rows["split"] == "test").sum() == {"s1": 2, "s2": 1}[speaker]
  # repeats differ, and labels travel with their examples
  by_repeat = [frozenset(cuts[(cuts.repeat == r) & (cuts.split == "test")]["example_id"]) for r in range(3)]
  assert len(set(by_repeat)) > 1
  merged = cuts.merge(table, on="example_id")
  assert (merged["label_x"] == merged["label_y"]).all()


def test_adding_a_speaker_does_not_move_the_others():
  before, _ = intra_speaker.intra_speaker_splits(speaker_table({"s1": 10, "s2": 9}), repeats=2)
  after, _ = intra_speaker.intra_speaker_splits(speaker_table({"s0": 4, "s1": 10, "s2": 9}), repeats=2)
  after = after[after.speaker_id != "s0"]
  key = ["repeat", "example_id"]
  pd.testing.assert_frame_equal(before.sort_values(key, ignore_index=True), after.sort_values(key, ignore_index=True))


def _prepare_splits(data_dir, out, hash_seed: str) -> subprocess.Popen:
  """The installed command, as a user runs it, under a given PYTHONHASHSEED."""
  executable = Path(sys.executable).parent / "prepare-splits"
  env = dict(os.environ, PYTHONHASHSEED=hash_seed)
  return subprocess.Popen([str(executable), "noss/crema_d", "--data_dir", str(data_dir), "--out", str(out), *SCHEMES],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_prepare_splits_writes_every_scheme_identically_under_any_hash_seed(tone_dataset, tmp_path, capsys):
  builder, written, _, data_dir = tone_dataset
  runs = {seed: _prepare_splits(data_dir, tmp_path / seed, seed) for seed in ("1", "4242")}
  results = {seed: run.communicate() + (run.returncode,) for seed, run in runs.items()}
  for stdout, stderr, code in results.values():
    assert code == 0, stderr
  stdout = results["1"][0]
  assert "canonical: 144 examples" in stdout and "speaker_disjoint: 5 repeats" in stdout
  assert "kfold: 4 folds, grouped by speaker_id" in stdout

  out = tmp_path / "1"
  canonical, sidecar = manifest.read_manifest(out, "noss/crema_d", "canonical")
  assert sorted(canonical["example_id"]) == sorted(written)
  assert sidecar["rows"] == 144 and sidecar["scheme"] == "canonical"
  for split in ("train", "validation", "test"):
    assert (canonical["split"] == split).sum() == builder.info.splits[split].num_examples
  assert (canonical.groupby("speaker_id")["split"].nunique() == 1).all()  # TFDS's splits are speaker-disjoint

  cuts, cuts_sidecar = manifest.read_manifest(out, "noss/crema_d", "intra_speaker")
  assert len(cuts) == 5 * 144 and cuts_sidecar["params"]["repeats"] == 5
  assert cuts_sidecar["params"]["label_coverage"]["cuts"] == 5 * 12

  disjoint, _ = manifest.read_manifest(out, "noss/crema_d", "speaker_disjoint")
  for _, rows in disjoint.groupby("repeat"):
    assert sorted(rows["example_id"]) == sorted(written)
    test_speakers = set(rows.loc[rows.split == "test", "speaker_id"])
    assert test_speakers and not test_speakers & set(rows.loc[rows.split == "train", "speaker_id"])
    assert (rows.split == "test").sum() == 24  # 12 examples a speaker, 0.2 of 12 speakers ~ 2 speakers

  folds, folds_sidecar = manifest.read_manifest(out, "noss/crema_d", "kfold")
  assert folds_sidecar["params"]["group"] == "speaker_id"
  tests = folds[folds.split == "test"]
  assert sorted(tests["example_id"]) == sorted(written)  # each example in test exactly once
  assert (tests.groupby("speaker_id")["fold"].nunique() == 1).all()

  for name in FILES:
    for suffix in (".csv", ".json"):
      path = Path("noss/crema_d") / (name + suffix)
      assert (out / path).read_bytes() == (tmp_path / "4242" / path).read_bytes(), path

  assert cli.main(["--check", str(out)]) == 0
  assert "all manifests check out" in capsys.readouterr().out


def test_unbuilt_task_names_the_build_command(tmp_path, capsys):
  assert cli.main(["noss/crema_d", "--data_dir", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
  error = capsys.readouterr().err
  line = next(line for line in error.splitlines() if line.startswith("error: "))
  assert f"tfds build noss/crema_d --imports nossbench.builders --data_dir {tmp_path}" in line
  assert "Traceback" not in error
