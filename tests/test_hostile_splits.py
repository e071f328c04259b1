"""prepare-splits on awkward and hostile input (issue 11): defaults that never fail on valid data, explicit
numbers that cannot be met, and broken manifests, sidecars and list files, each exit 2 naming the file."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from nossbench.splits import cli, manifest
from splits_helpers import features, write_tfds_dataset
from test_splits_check import TASK, write_all

FEW = "fixture/few"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """fixture/few: 3 speakers x 3 clips, so at most 3 intra-speaker cuts and 3 speaker-disjoint splits."""
  root = tmp_path_factory.mktemp("tfds")
  rows = [{"example_id": f"s{s}/{i}", "audio": np.zeros(4, np.int16), "label": ["a", "b"][i % 2],
           "speaker_id": f"s{s}"} for s in range(3) for i in range(3)]
  write_tfds_dataset(root, FEW, features(["a", "b"]), {"train": [rows[:6]], "test": [rows[6:]]})
  return root


def prepare(data_dir, out, *flags) -> int:
  return cli.main([FEW, "--data_dir", str(data_dir), "--out", str(out), *map(str, flags)])


@pytest.mark.parametrize("flag,scheme,what", [("--intra-speaker", "intra_speaker", "intra-speaker cuts"),
                                              ("--speaker-disjoint", "speaker_disjoint", "speaker-disjoint splits")])
def test_the_default_repeats_shrink_to_what_the_data_allows_and_say_so(data_dir, tmp_path, capsys, flag, scheme,
                                                                        what):
  assert prepare(data_dir, tmp_path, flag) == 0
  out = capsys.readouterr().out
  note = f"3 repeats instead of the default 5: the data allows only 3 distinct {what}"
  assert f"note: {note}" in out and f"{scheme}: " in out and " 3 repeats" in out
  table, sidecar = manifest.read_manifest(tmp_path, FEW, scheme)
  assert sidecar["params"]["repeats"] == 3 and sidecar["params"]["repeats_note"].startswith(note)
  assert sorted(table["repeat"].unique()) == [0, 1, 2]
  assert len({tuple(sorted(table[(table.repeat == r) & (table.split == "test")].example_id)) for r in range(3)}) == 3


@pytest.mark.parametrize("flag,what", [("--intra-speaker", "intra-speaker cuts"),
                                       ("--speaker-disjoint", "speaker-disjoint splits")])
def test_an_explicit_repeats_the_data_cannot_meet_is_an_error(data_dir, tmp_path, capsys, flag, what):
  assert prepare(data_dir, tmp_path, flag, "--repeats", 5) == 2
  error = capsys.readouterr().err
  assert f"--repeats 5 asks for more {what}" in error and "lower --repeats to 3 or less" in error
  assert "Traceback" not in error and not list(tmp_path.rglob("*.csv"))  # nothing written
  assert prepare(data_dir, tmp_path, flag, "--repeats", 3) == 0  # an explicit number that fits is kept as is


def test_kfold_more_folds_than_speakers_names_the_default_grouping(data_dir, tmp_path, capsys):
  assert prepare(data_dir, tmp_path, "--kfold", 4) == 2
  error = capsys.readouterr().err
  assert "--kfold 4 needs at least 4 groups of `speaker_id`; this task has 3: lower --kfold to 3" in error
  assert "`none` cuts without it" in error
  assert prepare(data_dir, tmp_path, "--kfold", 4, "--group", "none") == 0


def sidecar_path(root, scheme="kfold"):
  return manifest.manifest_paths(root, TASK, scheme)[1]


def rewrite_table(root, data: bytes, scheme="kfold"):
  """Replaces a table by `data` and records its sha256 in the sidecar: hostile but self-consistent."""
  table, side = manifest.manifest_paths(root, TASK, scheme)
  table.write_bytes(data)
  sidecar = json.loads(side.read_text())
  side.write_text(json.dumps(sidecar | {"sha256": hashlib.sha256(data).hexdigest()}))


@pytest.mark.parametrize("damage,message", [
    (lambda root: sidecar_path(root).write_text("[1, 2]"), "kfold.json holds a JSON list, not the object"),
    (lambda root: sidecar_path(root).write_text('"text"'), "kfold.json holds a JSON str"),
    (lambda root: sidecar_path(root).write_bytes(b"\xff\xfe\x00garbage"), "kfold.json is not UTF-8 text"),
    (lambda root: sidecar_path(root).write_text("{" * 100_000), "kfold.json is not valid JSON"),
    (lambda root: sidecar_path(root).write_text(json.dumps(
        json.loads(sidecar_path(root).read_text()) | {"rows": "many"})), "field(s) rows are not of the type"),
    (lambda root: sidecar_path(root).write_text(json.dumps(
        json.loads(sidecar_path(root).read_text()) | {"columns": [1, 2]})), "field(s) columns are not"),
    (lambda root: (sidecar_path(root).unlink(), sidecar_path(root).mkdir()), "kfold.json is a folder"),
    (lambda root: (sidecar_path(root).unlink(), os.mkfifo(sidecar_path(root))), "kfold.json is not a regular file"),
    (lambda root: rewrite_table(root, b"\x89PNG\r\n\x1a\n\0\0\0"), "kfold.csv matches its sidecar's sha256 but is "
                                                                    "not a manifest table"),
    (lambda root: rewrite_table(root, b""), "kfold.csv matches its sidecar's sha256 but is not a manifest table"),
    (lambda root: rewrite_table(root, b"example_id,label,speaker_id,split,fold,group\nx,a,s,test,notanumber,g\n"),
     "kfold.csv matches its sidecar's sha256 but is not a manifest table"),
    (lambda root: (manifest.manifest_paths(root, TASK, "kfold")[0].unlink(),
                   manifest.manifest_paths(root, TASK, "kfold")[0].mkdir()), "kfold.csv is a folder"),
])
def test_check_reports_a_broken_manifest_or_sidecar_and_goes_on(tmp_path, capsys, damage, message):
  write_all(tmp_path)
  damage(tmp_path)
  assert cli.main(["--check", str(tmp_path)]) == 2
  captured = capsys.readouterr()
  assert f"{TASK} kfold: " in captured.err and message in captured.err
  assert "Traceback" not in captured.err
  assert f"{TASK} canonical: 24 rows" in captured.out  # the other manifests are still checked


def test_check_follows_a_manifest_folder_reached_through_a_symbolic_link(tmp_path, capsys):
  write_all(tmp_path / "real")
  (tmp_path / "linked").mkdir()
  (tmp_path / "linked" / "noss").symlink_to(tmp_path / "real" / "noss", target_is_directory=True)
  assert cli.main(["--check", str(tmp_path / "linked")]) == 0
  assert f"{TASK} canonical: 24 rows" in capsys.readouterr().out


@pytest.mark.parametrize("damage,message", [
    (lambda folder: (folder / "train.txt").mkdir(), "train.txt is a folder where a file is expected"),
    (lambda folder: (folder / "train.txt").write_bytes(b"s0/0\n\xff\xfe\n"), "train.txt: not UTF-8 text (line 2"),
    (lambda folder: os.mkfifo(folder / "train.txt"), "train.txt is not a regular file"),
    (lambda folder: (folder / "train.txt").symlink_to(folder / "gone.txt"), "cannot read"),
])
def test_from_lists_refuses_a_list_that_is_not_a_readable_text_file(data_dir, tmp_path, capsys, damage, message):
  folder = tmp_path / "lists"
  folder.mkdir()
  (folder / "test.txt").write_text("s2/0\ns2/1\ns2/2\n")
  damage(folder)
  assert prepare(data_dir, tmp_path / "out", "--from-lists", folder) == 2
  error = capsys.readouterr().err
  assert message in error and "Traceback" not in error and not (tmp_path / "out").exists()


def test_from_lists_refuses_an_example_named_twice(data_dir, tmp_path, capsys):
  folder = tmp_path / "lists"
  folder.mkdir()
  (folder / "train.txt").write_text("s0/0\ns0/1\ns0/0\n")
  assert prepare(data_dir, tmp_path / "out", "--from-lists", folder) == 2
  assert "train.txt:3 's0/0' = s0/0, already in train" in capsys.readouterr().err


def test_an_out_folder_that_is_a_file_is_an_error(data_dir, tmp_path, capsys):
  (tmp_path / "out").write_text("a file")
  assert prepare(data_dir, tmp_path / "out") == 2
  assert f"cannot create the folder {tmp_path / 'out' / 'fixture' / 'few'}" in capsys.readouterr().err


@pytest.mark.parametrize("damage,message", [
    (lambda shard: shard.write_bytes(shard.read_bytes()[:-20]), "truncated record"),
    (lambda shard: shard.unlink(), "No such file"),
    (lambda shard: shard.write_bytes(b"\x00" * 40), "the train split's records cannot be read"),
])
def test_damaged_tfds_records_are_an_error_naming_the_split(data_dir, tmp_path, capsys, damage, message):
  shutil.copytree(data_dir, tmp_path / "tfds")
  [shard] = (tmp_path / "tfds").glob("fixture/few/1.0.0/*train.tfrecord*")
  damage(shard)
  assert cli.main([FEW, "--data_dir", str(tmp_path / "tfds"), "--out", str(tmp_path / "out")]) == 2
  error = capsys.readouterr().err
  assert "fixture/few" in error and message in error and "rebuild it" in error and "Traceback" not in error
  assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name,damage", [
    ("dataset_info.json", lambda p: p.write_text("{not json")), ("dataset_info.json", lambda p: p.write_text("")),
    ("dataset_info.json", lambda p: p.write_bytes(b"\xff\xfe\x00\x01")),
    ("dataset_info.json", lambda p: (p.unlink(), p.mkdir())), ("features.json", lambda p: p.write_text("[1, 2]")),
])
def test_damaged_tfds_dataset_files_are_an_error_saying_to_rebuild(data_dir, tmp_path, capsys, name, damage):
  shutil.copytree(data_dir, tmp_path / "tfds")
  damage(tmp_path / "tfds" / FEW / "1.0.0" / name)
  assert cli.main([FEW, "--data_dir", str(tmp_path / "tfds"), "--out", str(tmp_path / "out")]) == 2
  error = capsys.readouterr().err
  assert f"{FEW} in {tmp_path / 'tfds'}: its dataset files (dataset_info.json, features.json) cannot be read" in error
  assert "Rebuild it: tfds build fixture/few" in error and not (tmp_path / "out").exists()


def test_a_task_never_built_there_is_unknown_not_damaged(tmp_path, capsys):
  assert cli.main(["fixture/none", "--data_dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
  error = capsys.readouterr().err
  assert "unknown task 'fixture/none'" in error and "dataset files" not in error
