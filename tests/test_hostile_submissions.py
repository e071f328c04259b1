"""score-submission on hostile and broken input: every class is refused with exit code 2 and a message
that names the file and the fix, before anything large is read; nothing is written that looks complete.

Files are made at test time. Classes, not cases: each test builds several members of its class.
"""

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import scoring_helpers as helpers
from nossbench.pipelines import cache, cache_format
from nossbench.scoring import cli

TASK = "noss/crema_d"


@pytest.fixture
def task(tmp_path):
  return helpers.small_task(tmp_path, TASK)


score = helpers.score  # in this process: a traceback would fail the test


def refused(tmp_path, capsys, splits, path, *expected, extra=()):
  assert score(tmp_path, splits, path, extra=extra) == 2
  err = capsys.readouterr().err
  assert "Traceback" not in err and str(path) in err, err
  for text in expected:
    assert text in err, err
  assert not (tmp_path / "out" / "report.json").exists()
  return err


def ids_of(rows):
  return rows["example_id"].to_numpy().astype(str)


def bomb(path, rows: int, dims: int, ids) -> None:
  """An .npz whose float32 `embedding` [rows, dims] of zeros is deflated as it is written, never held."""
  header = {"descr": "<f4", "fortran_order": False, "shape": (rows, dims)}
  with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
    with archive.open("example_id.npy", "w") as member:
      np.lib.format.write_array(member, ids)
    with archive.open("embedding.npy", "w", force_zip64=True) as member:
      np.lib.format.write_array_header_1_0(member, header)
      block = bytes(1 << 24)
      for _ in range(rows * dims * 4 // len(block)):
        member.write(block)


def test_zip_bomb_is_refused_from_the_headers_without_inflating(tmp_path, task):
  splits, rows, _ = task
  path = tmp_path / "bomb.npz"
  bomb(path, 2**17, 1024, ids_of(rows))  # 512 MiB of zeros in 0.5 MB
  assert path.stat().st_size < 2**20
  # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest, with
  # TensorFlow loaded by earlier tests), while VmHWM is this process image's own peak.
  measured = ("import re, sys; from nossbench.scoring import cli; code = cli.main(sys.argv[1:]); "
              "print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1]); sys.exit(code)")
  result = subprocess.run([sys.executable, "-c", measured, str(path), "--task", TASK, "--splits", str(splits),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
  assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
  assert "as a zip bomb does" in result.stderr and "save it uncompressed with np.savez" in result.stderr
  assert int(result.stdout) < 400 * 1024, "the bomb was inflated"  # KiB: its 512 MiB were never allocated
  assert not (tmp_path / "out").exists()


def test_dimensions_beyond_any_model_are_refused_unless_allowed(tmp_path, task, capsys):
  splits, rows, x = task
  path = tmp_path / "wide.npz"
  np.savez(path, example_id=ids_of(rows), embedding=np.ones((len(rows), 70_000), np.float16))
  refused(tmp_path, capsys, splits, path, "70,000 dimensions", "more than the 65,536", "--max-dims")
  np.savez(tmp_path / "eight.npz", example_id=ids_of(rows), embedding=x)
  refused(tmp_path, capsys, splits, tmp_path / "eight.npz", "8 dimensions, more than the 4", extra=["--max-dims", "4"])
  pd.DataFrame({"example_id": ids_of(rows), "embedding": list(np.ones((len(rows), 70_000), np.float32))}) \
      .to_parquet(tmp_path / "wide.parquet", compression=None, use_dictionary=False)
  refused(tmp_path, capsys, splits, tmp_path / "wide.parquet", "70,000 values each", "--max-dims")


@pytest.mark.parametrize("ids, embedding, code", [
    (lambda ids: ids[:0], lambda x: x[:0], "holds no examples"),
    (lambda ids: ids, lambda x: x[:, :0], "zero dimensions"),
    (lambda ids: ids, lambda x: x[:, 0], "got shape (120,)"),
    (lambda ids: ids, lambda x: x[:, None, None, :], "got shape (120, 1, 1, 8)"),
    (lambda ids: ids, lambda x: x[:, :0, None], "zero frames"),
    (lambda ids: ids, lambda x: x.astype(str), "must be floating point"),
    (lambda ids: ids, lambda x: x.astype(np.complex64), "got dtype complex64"),
    (lambda ids: ids, lambda x: x.astype(np.int32), "got dtype int32"),
    (lambda ids: ids, lambda x: x > 0, "got dtype bool"),
    (lambda ids: ids, lambda x: np.where(np.arange(len(x))[:, None] == 3, np.inf, x), "NaN or Inf: 'spk0_03'"),
    (lambda ids: ids, lambda x: x.astype(np.float64) * 1e300, "NaN or Inf as float32"),
    (lambda ids: ids, lambda x: x[:-1], "120 example ids but 119 embedding rows"),
    (lambda ids: np.where(ids == "spk0_01", "spk0_00", ids), lambda x: x, "appear more than once: 'spk0_00'"),
    (lambda ids: np.where(ids == "spk0_01", "nobody", ids), lambda x: x, "not in the task: 'nobody'"),
    (lambda ids: ids[1:], lambda x: x[1:], "missing: 'spk0_00'"),
    (lambda ids: np.arange(len(ids)), lambda x: x, "must hold strings, got dtype int64"),
    (lambda ids: ids[:, None], lambda x: x, "one-dimensional, got shape (120, 1)"),
    (lambda ids: np.char.encode(ids, "utf-8") + np.where(ids == "spk1_00", b"\xff", b""), lambda x: x,
     "not UTF-8 text: 'row 20: spk1_00\\\\xff'"),
    (lambda ids: np.where(ids == "spk0_00", "x" * 600, ids), lambda x: x, "up to 600 characters"),
])
def test_every_malformed_array_is_a_listed_problem(tmp_path, task, capsys, ids, embedding, code):
  splits, rows, x = task
  path = tmp_path / "bad.npz"
  np.savez(path, example_id=ids(ids_of(rows)), embedding=embedding(x))
  refused(tmp_path, capsys, splits, path, "not a valid submission", code)


def test_pickled_arrays_are_never_loaded(tmp_path, task, capsys):
  splits, rows, x = task
  np.savez(tmp_path / "objects.npz", example_id=ids_of(rows).astype(object), embedding=x)
  refused(tmp_path, capsys, splits, tmp_path / "objects.npz", "holds Python objects", "never loaded")


def test_files_that_are_not_what_their_name_says(tmp_path, task, capsys):
  splits, rows, x = task
  good = tmp_path / "good.npz"
  np.savez(good, example_id=ids_of(rows), embedding=x)
  (tmp_path / "empty.npz").write_bytes(b"")
  (tmp_path / "cut.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
  (tmp_path / "text.parquet").write_text("example_id,embedding\nspk0_00,1\n")
  (tmp_path / "npz.parquet").write_bytes(good.read_bytes())
  pd.DataFrame({"example_id": ids_of(rows), "embedding": list(x)}).to_parquet(tmp_path / "parquet.npz")
  (tmp_path / "half.parquet").write_bytes(b"PAR1" + bytes(100))
  (tmp_path / "empty.tfrecord").write_bytes(b"")
  (tmp_path / "folder").mkdir()
  (tmp_path / "link.npz").symlink_to(tmp_path / "folder", target_is_directory=True)
  (tmp_path / "loop").mkdir()
  (tmp_path / "loop" / "up").symlink_to(tmp_path / "loop", target_is_directory=True)
  for name, text in [("empty.npz", "not a readable .npz file"), ("cut.npz", "not a readable .npz file"),
                     ("text.parquet", "not a readable Parquet file"), ("npz.parquet", "not a readable Parquet file"),
                     ("parquet.npz", "not a readable .npz file"), ("half.parquet", "not a readable Parquet file"),
                     ("empty.tfrecord", "holds no examples"), ("link.npz", "a folder with no cache entry"),
                     ("loop", "a folder with no cache entry"), ("absent.npz", "no such submission file")]:
    refused(tmp_path, capsys, splits, tmp_path / name, text)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_submission_is_named(tmp_path, task, capsys):
  splits, rows, x = task
  path = tmp_path / "locked.npz"
  np.savez(path, example_id=ids_of(rows), embedding=x)
  path.chmod(0)
  refused(tmp_path, capsys, splits, path, "cannot be read", "Permission denied")


def test_parquet_bombs_and_broken_columns(tmp_path, task, capsys):
  splits, rows, x = task
  zeros = pd.DataFrame({"example_id": ids_of(rows), "embedding": list(np.zeros((len(rows), 60_000), np.float32))})
  zeros.to_parquet(tmp_path / "zeros.parquet")  # dictionary/RLE encoded: 29 MB of values in a few kB
  refused(tmp_path, capsys, splits, tmp_path / "zeros.parquet", "as a decompression bomb does", "compression=None")
  long_ids = pd.DataFrame({"example_id": ["x" * 100_000] * 1000, "embedding": [[0.5]] * 1000})
  long_ids.to_parquet(tmp_path / "ids.parquet")  # one long id, dictionary encoded: 100 MB when expanded
  refused(tmp_path, capsys, splits, tmp_path / "ids.parquet", "100,000 bytes long")
  table = pa.table({"example_id": pa.array([i.encode() for i in ids_of(rows)], pa.binary()),
                    "embedding": pa.array(list(x), pa.list_(pa.float32()))})
  pq.write_table(table, tmp_path / "binary.parquet")
  refused(tmp_path, capsys, splits, tmp_path / "binary.parquet", "example_id must hold strings, got binary")
  pd.DataFrame({"example_id": ids_of(rows)}).to_parquet(tmp_path / "no_embedding.parquet")
  refused(tmp_path, capsys, splits, tmp_path / "no_embedding.parquet", "missing column 'embedding'")
  pd.DataFrame({"example_id": ids_of(rows), "embedding": [["a"]] * len(rows)}).to_parquet(tmp_path / "str.parquet")
  refused(tmp_path, capsys, splits, tmp_path / "str.parquet", "must be floating point")


def tfrecord(payloads) -> bytes:
  data = b""
  for payload in payloads:
    length = struct.pack("<Q", len(payload))
    data += length + struct.pack("<I", cache_format._masked_crc(length)) + payload + \
        struct.pack("<I", cache_format._masked_crc(payload))
  return data


def test_tfrecord_framing_and_records(tmp_path, task, capsys):
  splits, rows, x = task
  good = [cache_format.serialize(i, v) for i, v in zip(ids_of(rows), x)]
  huge = struct.pack("<Q", 2**40)  # a forged length with a valid checksum
  (tmp_path / "forged.tfrecord").write_bytes(tfrecord(good[:3]) + huge +
                                             struct.pack("<I", cache_format._masked_crc(huge)) + bytes(8))
  refused(tmp_path, capsys, splits, tmp_path / "forged.tfrecord", "record 3", "declares 1,099,511,627,776 bytes")
  odd = [cache_format.serialize(i, v) for i, v in zip(ids_of(rows), x)]
  odd[5] = odd[5].replace(b"spk0_05", b"spk0_\xff5")
  (tmp_path / "odd.tfrecord").write_bytes(tfrecord(odd))
  refused(tmp_path, capsys, splits, tmp_path / "odd.tfrecord", "not UTF-8 text: 'odd.tfrecord#5'")
  wide = [cache_format.serialize(i, np.ones(70_000, np.float32)) for i in ids_of(rows)[:2]]
  (tmp_path / "wide.tfrecord").write_bytes(tfrecord(wide))
  refused(tmp_path, capsys, splits, tmp_path / "wide.tfrecord", "more than 65,536 dimensions")
  (tmp_path / "junk.tfrecord").write_bytes(tfrecord([b"\xff\xfe not a proto"] + good[1:]))
  refused(tmp_path, capsys, splits, tmp_path / "junk.tfrecord", "not tf.train.Example protos")


def cache_entry(root, rows, x) -> Path:
  key = cache.EntryKey("toy", "f1", "layer", "mean", 16000, TASK, "all")
  entry = Path(key.path(root))
  cache.write_records(entry / cache.shard_name(0, 1), [cache_format.serialize(i, v) for i, v in zip(ids_of(rows), x)])
  cache.write_completion(entry, {"key": key.as_dict(), "shards": [{"name": cache.shard_name(0, 1)}], "failed": []})
  return entry


@pytest.mark.parametrize("damage, text", [
    (lambda e: (e / cache.COMPLETE).write_text("{not json"), "not a readable completion record"),
    (lambda e: (e / cache.COMPLETE).write_text("[1, 2]"), "a JSON list, not an object"),
    (lambda e: (e / cache.COMPLETE).write_bytes(b"\xff\xfe{}"), "not a readable completion record"),
    (lambda e: (e / cache.COMPLETE).write_text('{"shards": ["../../../../etc/passwd"]}'),
     "file names inside the entry folder"),
    (lambda e: (e / cache.COMPLETE).write_text('{"shards": [7]}'), "file names inside the entry folder"),
    (lambda e: (e / cache.COMPLETE).write_text('{"shards": ["part-9.tfrecord"]}'), "1 shards listed in"),
    (lambda e: ((e / cache.COMPLETE).unlink(), (e / cache.COMPLETE).mkdir()), "no COMPLETE.json"),
    (lambda e: (e / cache.shard_name(0, 1)).write_bytes((e / cache.shard_name(0, 1)).read_bytes()[:-7]),
     "truncated: record 119"),
])
def test_damaged_cache_entries(tmp_path, task, capsys, damage, text):
  splits, rows, x = task
  entry = cache_entry(tmp_path / "cache", rows, x)
  damage(entry)
  refused(tmp_path, capsys, splits, entry, text)


def test_changed_or_incomplete_manifests(tmp_path, task, capsys):
  splits, rows, x = task
  np.savez(tmp_path / "s.npz", example_id=ids_of(rows), embedding=x)
  table = splits / TASK / "canonical.csv"
  table.write_text(table.read_text().replace("spk0_00,a", "spk0_00,b"))
  assert score(tmp_path, splits, tmp_path / "s.npz") == 2
  assert "does not match the sha256" in capsys.readouterr().err
  # a table rewritten together with its sidecar, without the speaker column
  helpers.write(splits, TASK, "canonical", rows)
  sidecar = json.loads((splits / TASK / "canonical.json").read_text())
  lacking = rows.drop(columns="speaker_id").to_csv(index=False).encode()
  table.write_bytes(lacking)
  sidecar.update(sha256=hashlib.sha256(lacking).hexdigest(), columns=[c for c in sidecar["columns"] if c != "speaker_id"])
  (splits / TASK / "canonical.json").write_text(json.dumps(sidecar))
  assert score(tmp_path, splits, tmp_path / "s.npz") == 2
  err = capsys.readouterr().err
  assert "lacks the columns ['speaker_id']" in err and "prepare-splits" in err and "Traceback" not in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_every_worker_and_writes_no_report(tmp_path, signum):
  rows = helpers.table(speakers=10, per_speaker=300)  # 3,000 x 256: forests keep two workers busy
  helpers.write(tmp_path / "splits", TASK, "canonical", rows)
  np.savez(tmp_path / "s.npz", example_id=ids_of(rows), embedding=helpers.embeddings(rows, dims=256, signal=0.3))
  process = subprocess.Popen([sys.executable, "-m", "nossbench.scoring.cli", str(tmp_path / "s.npz"), "--task", TASK,
                              "--splits", str(tmp_path / "splits"), "--out", str(tmp_path / "out"), "--jobs", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  command, deadline, workers = psutil.Process(process.pid), time.time() + 120, []
  while len(workers) < 2 and time.time() < deadline:  # both fitting workers started
    workers = [p for p in command.children(recursive=True) if "popen_loky" in " ".join(p.cmdline())]
    time.sleep(0.2)
  assert len(workers) >= 2, "scoring never started its workers"
  everything = command.children(recursive=True)
  time.sleep(1)
  process.send_signal(signum)
  _, err = process.communicate(timeout=30)
  assert process.returncode == 128 + signum, err
  assert f"stopped by {signal.Signals(signum).name}" in err and "Traceback" not in err
  _, alive = psutil.wait_procs(everything, timeout=5)
  assert not alive, [p.cmdline() for p in alive]
  assert not (tmp_path / "out" / "report.json").exists()


def test_bad_options_outputs_and_earlier_reports(tmp_path, task, capsys):
  splits, rows, x = task
  np.savez(tmp_path / "s.npz", example_id=ids_of(rows), embedding=x)
  for extra, text in [(["--jobs", "0"], "--jobs 0: give a number of workers"),
                      (["--seed", "-3"], "--seed -3: give a number of at least 0"),
                      (["--max-dims", "0"], "--max-dims 0: give a number of at least 1")]:
    assert score(tmp_path, splits, tmp_path / "s.npz", extra=extra) == 2
    assert text in capsys.readouterr().err
  (tmp_path / "file").write_text("")
  assert cli.main([str(tmp_path / "s.npz"), "--task", TASK, "--splits", str(splits), "--out", str(tmp_path / "file")]) == 2
  assert "--out" in capsys.readouterr().err and (tmp_path / "file").read_text() == ""
  for name, content in [("list.json", "[1]"), ("bad.json", "{"), ("empty.json", "{}"),
                        ("shallow.json", '{"task": "x", "results": [{"protocol": "canonical"}]}')]:
    (tmp_path / name).write_text(content)
    assert cli.main(["--compare", str(tmp_path / name), str(tmp_path / name), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert name in err and "report.json" in err and "Traceback" not in err, err
    assert not (tmp_path / "cmp" / "report.json").exists()


def test_folder_where_a_manifest_sidecar_should_be(tmp_path, task, capsys):
  splits, rows, x = task
  np.savez(tmp_path / "s.npz", example_id=ids_of(rows), embedding=x)
  sidecar = splits / TASK / "canonical.json"
  sidecar.unlink()
  sidecar.mkdir()
  assert score(tmp_path, splits, tmp_path / "s.npz") == 2
  err = capsys.readouterr().err
  assert f"{sidecar} is a folder" in err and "prepare-splits" in err and "Traceback" not in err
