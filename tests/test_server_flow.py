"""Upload -> validation -> queue -> worker -> results, through real server and worker processes, on SQLite
and PostgreSQL: every format, invalid uploads, cancelling, and private results until published."""

import dataclasses
import json
import pathlib

import numpy as np
import pytest

import server_helpers as helpers


# A name the scoring command line must not take for an option, nor a page for markup.
NAMES = {"all_tasks.zip": "--json<b>\"zip\"</b>';DROP_TABLE_jobs;--"}


@dataclasses.dataclass
class Stack:
  data: pathlib.Path
  db: str
  server: helpers.Server
  tokens: dict
  rows: object
  backend: str
  done: dict = dataclasses.field(default_factory=dict)  # {file name: id of its job, scored by alpha}

  def submit(self, files: dict, filename: str) -> int:
    """Alpha's job for one of the files, uploaded once per stack."""
    if filename not in self.done:
      with self.server.client(self.tokens["alpha"]) as client:
        task = None if filename.endswith(".zip") else helpers.TASK
        response = helpers.upload(client, filename, files[filename], task=task, name=NAMES.get(filename, filename))
      assert response.status_code == 202, response.text
      assert response.json()["url"] == f"/api/v1/jobs/{response.json()['id']}"
      self.done[filename] = response.json()["id"]
    return self.done[filename]

  def scored(self, files: dict, filename: str) -> dict:
    with self.server.client(self.tokens["alpha"]) as client:
      return helpers.wait_for_state(client, self.submit(files, filename), ("done", "failed"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  rows = helpers.scoring_helpers.table()
  return helpers.submission_files(rows, tmp_path_factory.mktemp("files"))


@pytest.fixture(scope="module", params=helpers.BACKENDS)
def stack(request, tmp_path_factory):
  root = tmp_path_factory.mktemp(f"flow-{request.param}")
  data = root / "data"
  rows = helpers.make_data(data)
  urls = helpers.database_url(request.param, root)
  url = next(urls)
  server = helpers.Server(data, url)
  worker = helpers.Worker(data, url, "--heartbeat", "0.5")
  try:
    teams = {n: helpers.create_team(data, url, n) for n in ("alpha", "beta")}
    yield Stack(data, url, server, teams, rows, request.param)
  finally:
    worker.stop()
    server.stop()
    next(urls, None)


def test_every_format_is_scored(stack, files):
  # Formats take the same path through the database: PostgreSQL runs one, to keep the suite short.
  names = list(files) if stack.backend == "sqlite" else ["sub.npz"]
  with stack.server.client(stack.tokens["alpha"]) as client:
    for filename in names:  # all queued before the first is scored
      stack.submit(files, filename)
    accepted = {}
    for filename in names:
      job = stack.scored(files, filename)
      job_id = accepted[filename] = job["id"]
      assert job["state"] == "done", job
      name = NAMES.get(filename, filename)
      assert (job["name"], job["team"], job["tasks"]) == (name, "alpha", [helpers.TASK])
      listed = {f["name"] for f in client.get(stack.server.url + job["results_url"]).json()["files"]}
      assert {"report.json", "report.md", "report.png"} <= listed
      report = client.get(f"/jobs/{job_id}/files/report.json").json()
      assert (report["name"], report["task"], report["n_examples"]) == (name, helpers.TASK, len(stack.rows))
      assert report["results"][0]["protocol"] == "canonical" and report["results"][0]["accuracy"] > 0.9
      assert client.get(f"/jobs/{job_id}/files/report.png").content.startswith(b"\x89PNG")
      assert helpers.TASK in client.get(f"/jobs/{job_id}/files/report.md").text
    mine = client.get("/jobs").json()
    assert {j["id"] for j in mine} >= set(accepted.values()) and {j["team"] for j in mine} == {"alpha"}


def test_an_invalid_upload_gets_every_problem_and_no_job(stack):
  rows = stack.rows
  ids = list(rows["example_id"][:-3]) + [rows["example_id"][0], "not_a_clip"]
  x = np.ones((len(ids), 4), np.float32)
  x[5, 1] = np.nan
  submissions = sorted(p.name for p in (stack.data / "submissions").iterdir())
  with stack.server.client(stack.tokens["alpha"]) as client:
    before = len(client.get("/jobs").json())
    response = helpers.upload(client, "broken.npz", helpers.npz_bytes(ids, x))
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert {p["code"] for p in problems} == {"missing_ids", "duplicate_ids", "unknown_ids", "non_finite"}
    assert all(p["file"] == "broken.npz" and p["task"] == helpers.TASK for p in problems)
    missing = next(p for p in problems if p["code"] == "missing_ids")
    assert missing["count"] == 3 and missing["examples"] == sorted(rows["example_id"][-3:])
    assert len(client.get("/jobs").json()) == before
  assert sorted(p.name for p in (stack.data / "submissions").iterdir()) == submissions
  assert not list((stack.data / "incoming").iterdir())


def test_results_are_private_until_published(stack, files):
  with stack.server.client(stack.tokens["alpha"]) as alpha, stack.server.client(stack.tokens["beta"]) as beta, \
       stack.server.client() as anyone:
    job_id = stack.scored(files, "sub.npz")["id"]
    for client in (beta, anyone):
      assert client.get(f"/jobs/{job_id}").status_code == 404
      assert client.get(f"/jobs/{job_id}/files").status_code == 404
      assert client.get(f"/jobs/{job_id}/files/report.json").status_code == 404
    assert beta.post(f"/jobs/{job_id}/cancel").status_code == 404
    assert job_id not in {j["id"] for j in anyone.get("/results").json()}
    assert "published" in helpers.admin(stack.data, stack.db, "publish", job_id).stdout
    assert beta.get(f"/jobs/{job_id}").json()["published"] is True
    assert anyone.get(f"/jobs/{job_id}/files/report.json").json()["name"] == "sub.npz"
    assert job_id in {j["id"] for j in anyone.get("/results").json()}
    assert beta.get("/jobs").json() == []  # published is not beta's own


def test_cancel(stack, files):
  with stack.server.client(stack.tokens["alpha"]) as client:
    cancelled = helpers.upload(client, "cancel-me.npz", files["sub.npz"]).json()["id"]
    response = client.post(f"/jobs/{cancelled}/cancel")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    later = helpers.upload(client, "after.npz", files["sub.npz"]).json()["id"]
    helpers.wait_for_state(client, later, ("done",))  # the worker, scoring in order, is past the cancelled job
    job = client.get(f"/jobs/{cancelled}").json()
    assert (job["state"], job["results_url"]) == ("cancelled", None)
    assert client.get(f"/jobs/{cancelled}/files").json() == {"files": []}
    assert client.post(f"/jobs/{later}/cancel").status_code == 409
  jobs = [json.loads(line) for line in helpers.admin(stack.data, stack.db, "jobs").stdout.splitlines()]
  assert {j["id"]: j["state"] for j in jobs}[cancelled] == "cancelled"
