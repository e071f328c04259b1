"""Real server and worker processes for the server tests, a small task to score, and a database per test."""

import io
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import uuid
import zipfile

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import scoring_helpers

TASK = "noss/crema_d"
API = "/api/v1"
POSTGRES_ENV = "NOSSBENCH_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def executable() -> str:
  found = shutil.which("nossbench-server", path=str(pathlib.Path(sys.executable).parent))
  assert found, f"nossbench-server is not installed beside {sys.executable}"
  return found


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def database_url(backend: str, tmp_path: pathlib.Path):
  """Yields a URL of an empty database: a SQLite file, or a new database on the test PostgreSQL server."""
  if backend == "sqlite":
    yield f"sqlite:///{tmp_path / 'server.sqlite'}"
    return
  base = os.environ.get(POSTGRES_ENV)
  if not base:
    if os.environ.get("NOSSBENCH_REQUIRE_POSTGRES"):
      pytest.fail(f"{POSTGRES_ENV} is unset, but NOSSBENCH_REQUIRE_POSTGRES says these tests must run")
    pytest.skip(f"{POSTGRES_ENV} unset: run under .ci/with-postgres (as `make test` does) for the PostgreSQL tests")
  name = f"nb_{uuid.uuid4().hex[:12]}"
  admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
  with admin.connect() as connection:
    connection.exec_driver_sql(f"CREATE DATABASE {name}")
  yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
  with admin.connect() as connection:
    connection.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
  admin.dispose()


def make_data(root: pathlib.Path) -> pd.DataFrame:
  """A data folder whose splits hold one small task; returns its canonical table."""
  rows = scoring_helpers.table()
  scoring_helpers.write(root / "splits", TASK, "canonical", rows)
  return rows


def npz_bytes(ids, x) -> bytes:
  buffer = io.BytesIO()
  np.savez(buffer, example_id=np.asarray(ids, dtype=str), embedding=x)
  return buffer.getvalue()


def submission_files(rows: pd.DataFrame, folder: pathlib.Path) -> dict[str, bytes]:
  """A valid submission for the task in every format the scorer reads, and as a .zip archive."""
  from nossbench.pipelines import cache, cache_format

  x = scoring_helpers.embeddings(rows)
  ids = rows["example_id"].tolist()
  parquet = io.BytesIO()
  pd.DataFrame({"example_id": ids, "embedding": list(x)}).to_parquet(parquet)
  folder.mkdir(parents=True, exist_ok=True)
  cache.write_records(folder / "sub.tfrecord", [cache_format.serialize(i, v) for i, v in zip(ids, x)])
  archive = io.BytesIO()
  with zipfile.ZipFile(archive, "w") as z:
    z.writestr(f"{TASK}.npz", npz_bytes(ids, x))
  return {"sub.npz": npz_bytes(ids, x), "sub.parquet": parquet.getvalue(),
          "sub.tfrecord": (folder / "sub.tfrecord").read_bytes(), "all_tasks.zip": archive.getvalue()}


class Process:
  """A `nossbench-server` role running as its own process, its output in a log file."""

  def __init__(self, log: pathlib.Path, *args):
    self.log = log
    with log.open("ab") as out:
      self.process = subprocess.Popen([executable(), *map(str, args)], stdout=out, stderr=subprocess.STDOUT)

  def output(self) -> str:
    return self.log.read_text()

  def kill(self):
    """kill -9: no chance to clean up."""
    self.process.kill()
    self.process.wait()

  def stop(self):
    if self.process.poll() is None:
      self.process.terminate()
      try:
        self.process.wait(timeout=30)
      except subprocess.TimeoutExpired:
        self.kill()


class Server(Process):
  def __init__(self, data: pathlib.Path, db: str, *options):
    self.port = free_port()
    self.url = f"http://127.0.0.1:{self.port}"
    super().__init__(data.parent / f"serve-{self.port}.log", "serve", "--data", data, "--db", db,
                     "--port", self.port, *options)
    deadline = time.monotonic() + 60
    while True:
      assert self.process.poll() is None, f"the server stopped:\n{self.output()}"
      try:
        if httpx.get(f"{self.url}{API}/health", timeout=2).status_code == 200:
          break
      except httpx.TransportError:
        pass
      assert time.monotonic() < deadline, f"the server did not answer in 60 s:\n{self.output()}"
      time.sleep(0.2)

  def client(self, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=self.url + API, headers=headers, timeout=60)


class Worker(Process):
  def __init__(self, data: pathlib.Path, db: str, *options):
    super().__init__(data.parent / f"worker-{uuid.uuid4().hex[:6]}.log", "worker", "--data", data, "--db", db,
                     "--models", "logreg", *options)


def admin(data: pathlib.Path, db: str, *args) -> subprocess.CompletedProcess:
  return subprocess.run([executable(), "admin", "--data", str(data), "--db", db, *map(str, args)],
                        capture_output=True, text=True, check=True)


def create_team(data: pathlib.Path, db: str, name: str) -> str:
  return admin(data, db, "create-team", name).stdout.strip()


def upload(client: httpx.Client, filename: str, body: bytes, task: str | None = TASK, **params) -> httpx.Response:
  query = {"filename": filename, **({"task": task} if task else {}), **params}
  return client.post("/submissions", params=query, content=body)


def wait_for_state(client: httpx.Client, job_id: int, states, timeout: float = 120) -> dict:
  deadline = time.monotonic() + timeout
  while True:
    job = client.get(f"/jobs/{job_id}").json()
    if job["state"] in states:
      return job
    assert time.monotonic() < deadline, f"job {job_id} still {job['state']} after {timeout} s: {job}"
    time.sleep(0.2)


def start_upload_and_stall(server: Server, token: str, body: bytes) -> socket.socket:
  """Sends the headers and half the body, then nothing: an upload the server is in the middle of."""
  connection = socket.create_connection(("127.0.0.1", server.port))
  head = (f"POST {API}/submissions?filename=half.npz&task=noss%2Fcrema_d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n")
  connection.sendall(head.encode() + body[:len(body) // 2])
  return connection


def wait_until(predicate, what: str, timeout: float = 60):
  deadline = time.monotonic() + timeout
  while not predicate():
    assert time.monotonic() < deadline, f"timed out waiting for {what}"
    time.sleep(0.1)
