"""compute-embeddings killed at every boundary of the cache's write protocol, then run again.

Each killed run is a real `compute-embeddings` process that SIGKILLs itself at a named step boundary
($NOSSBENCH_STOP_AT, see pipelines/cache.py); the very next run must finish and leave the entry equal,
byte for byte, to an uninterrupted run's. One clip per model call, so that values cannot depend on
which clips shared a batch.
"""

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from nossbench.embeddings.logmel import LogMel
from nossbench.pipelines import cache, compute_embeddings

TASK = "noss/crema_d"
# train: 96 clips -> 96 chunks, 2 final shards of 48
STOPS = ("record-written:1", "chunk-written:1", "chunk-written:60", "shard-written:1", "completion-temporary:1",
         "completion-written:1", "work-file-removed:1")
DAMAGED = "chunk-written:30"  # the state the damaged-chunk test starts from
COMPLETED_BEFORE_STOP = ("completion-written", "work-file-removed")


def arguments(data_dir, root, *extra):
  return ["--task", TASK, "--data_dir", str(data_dir), "--model", "logmel", "--cache", str(root),
          "--splits", "train", "--batch_size", "1", "--examples_per_shard", "48", *extra]


def embed(*argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = compute_embeddings.main([str(a) for a in argv])
  return code, out.getvalue(), err.getvalue()


def entry(root) -> Path:
  model = LogMel()
  return Path(cache.EntryKey(model.name, model.fingerprint, "logmel", "mean", 16000, TASK, "train").path(root))


def contents(folder) -> dict:
  """Every file of an entry with its bytes (COMPLETE.json without its creation time)."""
  found = {}
  for path in sorted(folder.rglob("*")):
    data = path.read_bytes() if path.is_file() else None
    if path.name == cache.COMPLETE:
      data = re.sub(rb'"created": "[^"]*"', b"", data)
    found[str(path.relative_to(folder))] = data
  return found


@pytest.fixture(scope="module")
def runs(tone_dataset, tmp_path_factory):
  """An uninterrupted run's entry, and one killed run per stop, four processes at a time."""
  data_dir, base = tone_dataset[3], tmp_path_factory.mktemp("faults")
  code, _, err = embed(*arguments(data_dir, base / "reference"))
  assert code == 0, err
  killed, pending = {}, [*STOPS, DAMAGED]
  while pending:
    batch, pending = pending[:4], pending[4:]
    started = {stop: subprocess.Popen([sys.executable, "-m", "nossbench.pipelines.compute_embeddings",
                                       *arguments(data_dir, base / stop.replace(":", "-"))],
                                      env={**os.environ, cache.STOP_AT: stop}, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
               for stop in batch}
    for stop, process in started.items():
      _, err = process.communicate(timeout=300)
      killed[stop] = (process.returncode, base / stop.replace(":", "-"), err)
  killed["damaged"] = killed.pop(DAMAGED)
  return data_dir, contents(entry(base / "reference")), killed


@pytest.mark.parametrize("stop", STOPS)
def test_next_run_after_a_kill_finishes_equal_to_an_uninterrupted_run(runs, stop):
  data_dir, reference, killed = runs
  code, root, err = killed[stop]
  assert code == -signal.SIGKILL, f"{stop} was never reached: {err[-2000:]}"
  completed = stop.startswith(COMPLETED_BEFORE_STOP)
  assert (entry(root) / cache.COMPLETE).exists() == completed
  if stop.startswith("work-file-removed"):
    assert any(name.startswith("chunks-") for name in contents(entry(root))), "nothing was left to remove"

  code, out, err = embed(*arguments(data_dir, root))
  assert code == 0, err
  assert ("reused cache entry" in out) == completed
  if not completed:
    embedded, cached, failed = map(int, re.search(r"train: (\d+) embedded, (\d+) cached, (\d+) failed", out).groups())
    assert embedded + cached == 96 and failed == 0
    assert cached == {"record-written:1": 0, "chunk-written:1": 1, "chunk-written:60": 60}.get(stop, 96)
  assert contents(entry(root)) == reference  # same files, same bytes; no chunk or temporary file left


def test_damaged_and_vanished_chunks_are_embedded_again(runs, monkeypatch):
  data_dir, reference, killed = runs
  code, root, err = killed["damaged"]
  assert code == -signal.SIGKILL, err[-2000:]
  chunks = sorted(entry(root).glob("chunks-*/chunk-*.tfrecord"))
  assert len(chunks) == 30
  chunks[0].write_bytes(b"not a TFRecord file")  # a damaged work file
  chunks[1].write_bytes(chunks[1].read_bytes()[:-3])  # cut short
  listed = cache.list_chunks
  # a chunk listed when the run was planned that is gone when it is read (another process finished it)
  monkeypatch.setattr(cache, "list_chunks", lambda *a: listed(*a) + [chunks[2].parent / "chunk-vanished.tfrecord"])
  code, out, err = embed(*arguments(data_dir, root))
  assert code == 0, err
  assert "train: 68 embedded, 28 cached, 0 failed" in out
  assert err.count("not used") == 3 and "embedded again" in err
  assert contents(entry(root)) == reference


def test_workers_of_a_killed_multi_process_run_stop_with_it(runs, tmp_path):
  data_dir, reference, _ = runs
  process = subprocess.Popen([sys.executable, "-m", "nossbench.pipelines.compute_embeddings",
                              *arguments(data_dir, tmp_path, "--direct_running_mode", "multi_processing",
                                         "--direct_num_workers", "2", "--read_parallelism", "2")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  launcher = psutil.Process(process.pid)
  deadline = time.time() + 240
  while not list(entry(tmp_path).glob("chunks-*/chunk-*")) and time.time() < deadline:
    time.sleep(0.2)
  workers = launcher.children(recursive=True)
  assert workers, "the run started no worker process"
  process.kill()
  process.wait()
  _, alive = psutil.wait_procs(workers, timeout=5)
  assert not alive, f"workers outlived the killed command: {[w.cmdline() for w in alive]}"
  code, _, err = embed(*arguments(data_dir, tmp_path))
  assert code == 0, err
  assert contents(entry(tmp_path)) == reference


def test_damaged_completion_record_is_named_not_reused(tone_dataset, tmp_path):
  data_dir = tone_dataset[3]
  code, _, err = embed(*arguments(data_dir, tmp_path))
  assert code == 0, err
  for damage in ("{not json", "[]", '{"shards": 3}'):
    (entry(tmp_path) / cache.COMPLETE).write_text(damage)
    code, out, err = embed(*arguments(data_dir, tmp_path))
    assert code == 2 and "Traceback" not in err, err
    assert f"{entry(tmp_path) / cache.COMPLETE}: not a readable completion record" in err  # the one reader's words
    assert "delete the entry folder and run compute-embeddings again" in err
    assert "computed cache entry" not in out and (entry(tmp_path) / cache.COMPLETE).read_text() == damage
