"""Hostile and mistaken clients against a real server process (SQLite; no worker, so jobs stay queued):
tokens, other teams' jobs, size caps, file names, pickles and bombs, names with markup and SQL."""

import io
import json
import pathlib
import zipfile

import httpx
import numpy as np
import pytest

import server_helpers as helpers
from nossbench.server import accounts
from nossbench.server import db as database

HOSTILE = "<script>alert('x')</script> \"; DROP TABLE jobs; -- ' OR 1=1 & <b>"
MAX_UPLOAD = 0.5  # MB
MAX_UNPACKED = 0.25  # MB


@pytest.fixture(scope="module")
def site(tmp_path_factory):
  root = tmp_path_factory.mktemp("security")
  data = root / "data"
  rows = helpers.make_data(data)
  db = f"sqlite:///{root / 'server.sqlite'}"
  server = helpers.Server(data, db, "--max-upload-mb", MAX_UPLOAD, "--max-unpacked-mb", MAX_UNPACKED,
                          "--max-queued", 3)
  engine = database.engine(db)  # teams made here, not by 4 slow admin commands (the flow tests run those)
  tokens = {n: accounts.create_team(engine, n)[1] for n in ("alpha", "beta", "capped", HOSTILE)}
  engine.dispose()
  valid = helpers.npz_bytes(rows["example_id"], helpers.scoring_helpers.embeddings(rows))
  yield data, db, server, tokens, valid
  server.stop()


def kept(data: pathlib.Path) -> list[str]:
  """Every file the server holds for uploads (received, being validated or accepted)."""
  return sorted(str(p.relative_to(data)) for folder in ("incoming", "submissions") for p in (data / folder).rglob("*")
                if p.is_file())


def test_no_or_wrong_token_is_401(site):
  _, _, server, _, valid = site
  for token in (None, "not-a-token"):
    with server.client(token) as client:
      response = helpers.upload(client, "a.npz", valid)
      assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
      assert client.get("/jobs").status_code == 401
  with httpx.Client(base_url=server.url + helpers.API, headers={"Authorization": "Basic abc"}) as client:
    assert client.get("/jobs").status_code == 401


def test_another_teams_job_is_404(site):
  _, _, server, tokens, valid = site
  with server.client(tokens["alpha"]) as alpha, server.client(tokens["beta"]) as beta, server.client() as anyone:
    job_id = helpers.upload(alpha, "a.npz", valid).json()["id"]
    assert alpha.get(f"/jobs/{job_id}").json()["state"] == "queued"
    for client in (beta, anyone):
      assert client.get(f"/jobs/{job_id}").status_code == 404
      assert client.get(f"/jobs/{job_id}/files/report.json").status_code == 404
    assert beta.post(f"/jobs/{job_id}/cancel").status_code == 404
    assert alpha.get(f"/jobs/{job_id}").json()["state"] == "queued"
    assert beta.get(f"/jobs/{job_id + 1000}").status_code == 404


def test_oversized_uploads_are_413_and_nothing_is_kept(site):
  data, _, server, tokens, _ = site
  before = kept(data)
  big = b"\0" * int(MAX_UPLOAD * 2**20 + 1)
  with server.client(tokens["beta"]) as client:
    response = helpers.upload(client, "big.npz", big)
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    # No Content-Length (chunked): the cap is enforced while streaming.
    chunks = (big[i:i + 65536] for i in range(0, len(big), 65536))
    response = client.post("/submissions", params={"filename": "big.npz", "task": helpers.TASK}, content=chunks)
    assert response.status_code == 413
    assert client.get("/jobs").json() == []
  assert kept(data) == before


def test_an_abandoned_upload_leaves_nothing(site):
  data, _, server, tokens, valid = site
  before = kept(data)
  stalled = helpers.start_upload_and_stall(server, tokens["beta"], valid)
  helpers.wait_until(lambda: list((data / "incoming").rglob("*.part")), "the upload to reach the disk")
  stalled.close()
  helpers.wait_until(lambda: kept(data) == before, "the server to remove the half upload")
  with server.client(tokens["beta"]) as client:
    assert client.get("/jobs").json() == []


def test_hostile_file_names_are_labels_never_paths(site):
  data, _, server, tokens, valid = site
  names = ["../../../../escape.npz", "/tmp/absolute.npz", "..\\..\\windows.npz", "a/b/<i>c</i>.npz", "%2e%2e%2fx.npz"]
  with server.client(tokens["beta"]) as client:
    for name in names:
      response = helpers.upload(client, name, valid)
      assert response.status_code == 202, response.text
      job = client.get(f"/jobs/{response.json()['id']}").json()
      assert job["files"] == [{"task": helpers.TASK, "filename": name}] and job["name"] == name
      assert client.post(f"/jobs/{job['id']}/cancel").status_code == 200  # under the cap on queued jobs
  stored = [path for path in kept(data) if path.startswith("submissions")]
  assert all(pathlib.Path(p).name == "noss__crema_d.npz" for p in stored)
  root = data.parent
  assert not [p for p in root.rglob("*") if p.name in ("escape.npz", "absolute.npz", "windows.npz", "x.npz")]
  assert not pathlib.Path("/tmp/absolute.npz").exists()


def test_pickles_and_bombs_are_refused(site):
  data, _, server, tokens, _ = site
  before = kept(data)
  pickled = io.BytesIO()
  np.savez(pickled, example_id=np.array(["a", None], dtype=object), embedding=np.zeros((2, 3), np.float32))
  compressed = io.BytesIO()  # 4 MB of zeros in a few kB
  np.savez_compressed(compressed, example_id=np.array(["a"]), embedding=np.zeros((1, 2**20), np.float32))
  archive = io.BytesIO()  # 64 MB of zeros in 64 kB
  with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr(f"{helpers.TASK}.npz", b"\0" * (64 << 20))
  with server.client(tokens["beta"]) as client:
    response = helpers.upload(client, "pickle.npz", pickled.getvalue())
    assert response.status_code == 422
    assert [p["code"] for p in response.json()["problems"]] == ["pickled"]
    response = helpers.upload(client, "bomb.npz", compressed.getvalue())
    assert response.status_code == 422 and "as a zip bomb does" in response.json()["problems"][0]["message"]
    response = helpers.upload(client, "bomb.zip", archive.getvalue(), task=None)
    assert response.status_code == 413 and "unpacks to 67108864 bytes" in response.json()["detail"]
    assert len(archive.getvalue()) < MAX_UPLOAD * 2**20
    response = helpers.upload(client, "notes.pkl", b"\x80\x04K\x01.")
    assert response.status_code == 422 and response.json()["problems"][0]["code"] == "format"
  assert kept(data) == before


def test_names_with_markup_quotes_and_sql_are_kept_verbatim(site):
  data, db, server, tokens, valid = site
  with server.client(tokens[HOSTILE]) as client:
    job_id = helpers.upload(client, "x.npz", valid, name=HOSTILE).json()["id"]
    job = client.get(f"/jobs/{job_id}").json()
    assert (job["name"], job["team"]) == (HOSTILE, HOSTILE)
    assert [j["id"] for j in client.get("/jobs").json()] == [job_id]
  listed = [json.loads(line) for line in helpers.admin(data, db, "jobs").stdout.splitlines()]
  assert {"team": HOSTILE, "name": HOSTILE} == {k: v for k, v in listed[-1].items() if k in ("team", "name")}
  teams = [json.loads(line)["name"] for line in helpers.admin(data, db, "teams").stdout.splitlines()]
  assert HOSTILE in teams and len(teams) == 4


def test_queued_cap_is_429_until_a_job_leaves_the_queue(site):
  _, _, server, tokens, valid = site
  with server.client(tokens["capped"]) as client:
    accepted = [helpers.upload(client, f"{i}.npz", valid).json()["id"] for i in range(3)]
    response = helpers.upload(client, "3.npz", valid)
    assert response.status_code == 429 and "3 of your jobs are queued" in response.json()["detail"]
    assert client.post(f"/jobs/{accepted[0]}/cancel").json()["state"] == "cancelled"
    assert helpers.upload(client, "3.npz", valid).status_code == 202


def test_unknown_task_and_the_openapi_page(site):
  _, _, server, tokens, valid = site
  with server.client(tokens["beta"]) as client:
    response = helpers.upload(client, "a.npz", valid, task="noss/nope")
    assert response.status_code == 422 and "tasks: noss/crema_d" in response.json()["problems"][0]["message"]
    assert client.get("/tasks").json() == [helpers.TASK]
  schema = httpx.get(server.url + "/openapi.json").json()
  assert {"/api/v1/submissions", "/api/v1/jobs/{job_id}", "/api/v1/results"} <= set(schema["paths"])
  assert httpx.get(server.url + "/docs").status_code == 200
