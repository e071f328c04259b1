"""Faults with real processes, on SQLite and PostgreSQL: a worker killed mid-job (the next one finishes it,
once), a server killed mid-upload (nothing partial becomes a submission), and both restarted (everything
is still there)."""

import psutil
import pytest

import server_helpers as helpers


@pytest.fixture(params=helpers.BACKENDS)
def db_url(request, tmp_path):
  urls = helpers.database_url(request.param, tmp_path)
  yield next(urls)
  next(urls, None)


def test_killed_worker_killed_server_and_restarts(tmp_path, db_url):
  data = tmp_path / "data"
  rows = helpers.make_data(data)
  valid = helpers.npz_bytes(rows["example_id"], helpers.scoring_helpers.embeddings(rows))
  server = helpers.Server(data, db_url)
  workers = []
  try:
    token = helpers.create_team(data, db_url, "alpha")
    with server.client(token) as client:
      job_id = helpers.upload(client, "sub.npz", valid).json()["id"]
      workers.append(helpers.Worker(data, db_url, "--heartbeat", "0.5", "--stale-after", "3"))
      helpers.wait_for_state(client, job_id, ("running",))
      doomed = psutil.Process(workers[0].process.pid)
      helpers.wait_until(lambda: doomed.children(), "the worker's scoring process")
      scoring = doomed.children()
      workers[0].kill()
      _, alive = psutil.wait_procs(scoring, timeout=10)
      assert not alive, "the scoring process outlived its killed worker"
      assert client.get(f"/jobs/{job_id}").json()["state"] == "running"

      workers.append(helpers.Worker(data, db_url, "--heartbeat", "0.5", "--stale-after", "3"))
      job = helpers.wait_for_state(client, job_id, ("done", "failed"))
      assert (job["state"], job["attempts"]) == ("done", 2)
      assert [e["state"] for e in job["history"]] == ["queued", "running", "running", "done"]
      assert "reclaimed from" in job["history"][2]["detail"]
      report = client.get(f"/jobs/{job_id}/files/report.json")
      assert report.json()["n_examples"] == len(rows)

    stalled = helpers.start_upload_and_stall(server, token, valid)
    helpers.wait_until(lambda: list((data / "incoming").rglob("*.part")), "the upload to reach the disk")
    server.kill()
    stalled.close()
    assert len(list((data / "submissions").iterdir())) == 1  # the half upload never left incoming/

    workers[1].stop()
    assert "given back" not in workers[1].output()  # it was idle
    server = helpers.Server(data, db_url)
    workers.append(helpers.Worker(data, db_url))
    assert not list((data / "incoming").iterdir())
    with server.client(token) as client:
      assert [(j["id"], j["state"], j["name"]) for j in client.get("/jobs").json()] == [(job_id, "done", "sub.npz")]
      assert client.get(f"/jobs/{job_id}").json()["history"] == job["history"]
      assert client.get(f"/jobs/{job_id}/files/report.json").content == report.content
      again = helpers.upload(client, "again.npz", valid).json()["id"]  # and the restarted pair takes new work
      assert helpers.wait_for_state(client, again, ("done", "failed"))["state"] == "done"
  finally:
    for worker in workers:
      worker.stop()
    server.stop()
