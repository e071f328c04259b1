"""`prepare-splits --check`: what it prints, every violation it must catch, and flag errors."""

import pytest

from nossbench.splits import cli, intra_speaker, kfold, manifest, speaker_disjoint, trials
from splits_helpers import speaker_table

TASK = "noss/x"


def write_all(root):
  """A folder of valid manifests of every scheme."""
  table = speaker_table({"s1": 6, "s2": 6, "s3": 6, "s4": 6}, labels=("a", "b", "c"))
  table["split"] = table["speaker_id"].map({"s1": "train", "s2": "train", "s3": "validation", "s4": "test"})
  manifest.write_manifest(root, TASK, "canonical", table, {"seed": None})
  cuts, _ = intra_speaker.intra_speaker_splits(table, 2, 0.5)
  manifest.write_manifest(root, TASK, "intra_speaker", cuts, {"seed": 0})
  manifest.write_manifest(root, TASK, "speaker_disjoint", speaker_disjoint.speaker_disjoint_splits(table, 2, 0.25),
                          {"seed": 0})
  manifest.write_manifest(root, TASK, "kfold", kfold.kfold_splits(table, 2, group_column="speaker_id")[0], {"seed": 0})
  pairs = trials.trials_table([[1, "s1_000", "s1_001"], [0, "s1_000", "s2_000"]], table["example_id"], TASK)
  manifest.write_manifest(root, TASK, "trials", pairs, {"seed": None})
  return table


def test_check_prints_a_summary_per_manifest(tmp_path, capsys):
  write_all(tmp_path)
  assert cli.main(["--check", str(tmp_path)]) == 0
  out = capsys.readouterr().out
  for scheme in ("canonical", "intra_speaker", "kfold", "speaker_disjoint"):
    assert f"{TASK} {scheme}:" in out
  assert "noss/x trials: 2 trials, 1 same-speaker" in out
  canonical = out.split(f"{TASK} canonical: 24 rows")[1].splitlines()
  assert canonical[1].split() == ["rows", "speakers", "labels"] and canonical[2].split() == ["split"]
  assert canonical[3].split() == ["test", "6", "1", "3"] and canonical[4].split() == ["train", "12", "2", "3"]


def edit(root, scheme, change):
  """Rewrites a manifest through `change(table)` with a fresh sidecar (a consistent but wrong manifest)."""
  table, sidecar = manifest.read_manifest(root, TASK, scheme)
  manifest.write_manifest(root, TASK, scheme, change(table), sidecar["params"])


def test_check_lists_every_violation_and_exits_2(tmp_path, capsys):
  write_all(tmp_path)

  def cross_speaker(table):  # one test example of repeat 0 joins train: its speaker is on both sides
    first = table.index[(table.repeat == 0) & (table.split == "test")][0]
    table.loc[first, "split"] = "train"
    return table

  edit(tmp_path, "speaker_disjoint", cross_speaker)
  edit(tmp_path, "intra_speaker", lambda t: t[~((t.repeat == 1) & (t.example_id == "s2_003"))])
  def twice_in_test(table):  # s3_000 is also put in test of fold 1
    return table.assign(split=table.split.where(~((table.example_id == "s3_000") & (table.fold == 1)), "test"))

  edit(tmp_path, "kfold", twice_in_test)
  edit(tmp_path, "trials", lambda t: t.assign(test_id=t.test_id.replace("s2_000", "s9_999")))

  assert cli.main(["--check", str(tmp_path)]) == 2
  error = capsys.readouterr().err
  assert error.startswith(f"error: 5 violations in {tmp_path}:")
  assert f"{TASK} speaker_disjoint: repeat 0: speaker_id values in train and test: s" in error
  assert f"{TASK} intra_speaker: repeat 1 does not hold the examples of repeat 0: missing s2_003; extra none" in error
  assert f"{TASK} kfold: fold 1: group values in train and test: s3" in error
  assert f"{TASK} kfold: examples not in test in exactly one fold: s3_000" in error
  assert f"{TASK} trials: trial ids not in the canonical manifest: s9_999" in error

  canonical = tmp_path / TASK / "canonical.csv"
  canonical.write_text(canonical.read_text().replace("s1_000", "s1_999"))
  assert cli.main(["--check", str(tmp_path)]) == 2
  error = capsys.readouterr().err
  assert f"{TASK} canonical: {canonical} does not match the sha256" in error
  assert f"{TASK} trials: trial ids not checked: the canonical manifest beside them is unreadable" in error


def test_check_warns_about_labels_missing_from_train(tmp_path, capsys):
  table = speaker_table({"s1": 4, "s2": 2}, labels=("a", "b"))
  table["split"] = ["train", "train", "train", "train", "test", "test"]
  table.loc[table.index[:4], "label"] = "a"
  manifest.write_manifest(tmp_path, TASK, "canonical", table, {"seed": None})
  assert cli.main(["--check", str(tmp_path)]) == 0
  assert "warning: noss/x canonical: the table: labels in test but not in train: b" in capsys.readouterr().out


def test_check_of_an_empty_folder_says_what_it_expected(tmp_path, capsys):
  assert cli.main(["--check", str(tmp_path)]) == 2
  assert "no manifests there (expected <benchmark>/<task>/<scheme>.json" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["noss/x", "--out", "m", "--test-fraction", "1.5", "--intra-speaker"], "--test-fraction must be between 0 and 1"),
    (["noss/x", "--out", "m", "--test-fraction", "0", "--speaker-disjoint"], "--test-fraction must be between 0 and 1"),
    (["noss/x", "--out", "m", "--repeats", "0", "--intra-speaker"], "--repeats must be at least 1"),
    (["noss/x", "--out", "m", "--repeats", "3"], "--repeats only applies to --intra-speaker or --speaker-disjoint"),
    (["noss/x", "--out", "m", "--group", "speaker"], "--group only applies to --kfold"),
    (["noss/x", "--out", "m", "--hash-assign", "--intra-speaker"], "--hash-assign only applies to --speaker-disjoint"),
    (["noss/x", "--out", "m", "--unlisted-split", "train"], "--unlisted-split only applies to --from-lists"),
    (["noss/x", "--out", "m", "--kfold", "1"], "--kfold must be at least 2"),
    (["noss/x", "--out", "m", "--from-lists", "/nonexistent/lists"], "--from-lists /nonexistent/lists: no such folder"),
    (["noss/x", "--check", "m"], "--check re-verifies existing manifests and takes no TASK"),
    (["noss/x", "--audit", "m"], "--audit audits existing manifests and takes no TASK"),
    (["--check", "m", "--strict"], "--strict only applies to --audit"),
    (["noss/x"], "give a task and --out"),
])
def test_bad_flags_are_one_line_errors(flags, message, capsys):
  assert cli.main(flags) == 2
  error = capsys.readouterr().err
  assert error.startswith("error: ") and message in error and error.count("\n") == 1
