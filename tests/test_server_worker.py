"""The worker's limits on the scoring process, with a real worker process: a job over its memory or its
time is failed with the reason, and the worker goes on; a stopped worker gives its job back."""

import subprocess

import psutil
import pytest

import server_helpers as helpers
from nossbench.server import accounts, db, jobs
from nossbench.server.data import DataFolder


@pytest.fixture
def queued(tmp_path):
  """A data folder, its SQLite URL, and a job queued with a valid submission (as the server stores it)."""
  data = DataFolder(tmp_path / "data")
  rows = helpers.make_data(data.root)
  data.prepare()
  folder = data.submissions / "upload1"
  folder.mkdir()
  (folder / "noss__crema_d.npz").write_bytes(helpers.npz_bytes(rows["example_id"],
                                                               helpers.scoring_helpers.embeddings(rows)))
  url = db.default_url(data.root)
  engine = db.engine(url)
  db.upgrade(engine)
  team_id, _ = accounts.create_team(engine, "t")
  job_id = jobs.enqueue(engine, team_id, "sub", [{"task": helpers.TASK, "path": "noss__crema_d.npz",
                                                  "filename": "sub.npz"}], "upload1", jobs.Limits())
  yield data, url, engine, job_id
  engine.dispose()


def run_worker(data: DataFolder, url: str, *options) -> str:
  result = subprocess.run([helpers.executable(), "worker", "--data", str(data.root), "--db", url, "--once",
                           "--models", "logreg", *options], capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  return result.stdout


@pytest.mark.parametrize("options, reason", [
    (("--memory-limit-mb", "64"), "scoring ran out of memory (limit 67108864 bytes)"),
    (("--time-limit", "0.3", "--heartbeat", "0.1"), "scoring took longer than 0.3 s"),
])
def test_a_job_over_its_limits_fails_with_the_reason(queued, options, reason):
  data, url, engine, job_id = queued
  output = run_worker(data, url, *options)
  assert f"job {job_id}: failed" in output and "stopped after 1 jobs" in output
  job = jobs.get(engine, job_id)
  assert (job["state"], job["reason"], job["result_dir"]) == ("failed", reason, None)



def test_a_stopped_worker_gives_its_job_back(queued):
  data, url, engine, job_id = queued
  worker = helpers.Worker(data.root, url, "--heartbeat", "0.2")
  helpers.wait_until(lambda: jobs.get(engine, job_id)["state"] == "running", "the worker to claim the job")
  helpers.wait_until(lambda: psutil.Process(worker.process.pid).children(), "the scoring process")
  scoring = psutil.Process(worker.process.pid).children()
  worker.stop()  # SIGTERM, as a service manager stops it
  assert worker.process.returncode == 0 and f"job {job_id}: given back to the queue" in worker.output()
  job = jobs.get(engine, job_id)
  assert (job["state"], job["attempts"], job["worker"]) == ("queued", 0, None)
  assert [e["state"] for e in job["history"]] == ["queued", "running", "queued"]
  assert not psutil.wait_procs(scoring, timeout=10)[1], "the scoring process outlived its worker"
