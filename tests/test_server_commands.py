"""`nossbench-server` as an operator meets it: refusals are one paragraph and exit code 2, the token is
printed once on stdout, admin commands change what they say they change."""

import json
import subprocess

import server_helpers as helpers
from nossbench.server import db


def run(*args) -> subprocess.CompletedProcess:
  return subprocess.run([helpers.executable(), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_serve_refuses_manifests_that_fail_the_check(tmp_path):
  data = tmp_path / "data"
  helpers.make_data(data)
  table = data / "splits/noss/crema_d/canonical.csv"
  table.write_text(table.read_text().replace("spk0_00", "spk0_99", 1))
  result = run("serve", "--data", data, "--port", helpers.free_port())
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert "fails prepare-splits --check (1 violations)" in result.stderr and "noss/crema_d canonical" in result.stderr
  assert not (data / "server.sqlite").exists()  # nothing set up for a folder that is not served
  result = run("serve", "--data", tmp_path / "empty", "--port", helpers.free_port())
  assert result.returncode == 2 and "no manifests to score against" in result.stderr


def test_admin_commands(tmp_path):
  data = tmp_path / "data"
  helpers.make_data(data)
  db.upgrade(db.engine(db.default_url(data)))
  created = run("admin", "--data", data, "create-team", "lab")
  assert created.returncode == 0 and "shown only now" in created.stderr
  token = created.stdout.strip()
  stored = b"".join(p.read_bytes() for p in data.glob("server.sqlite*"))  # the database and its WAL
  assert len(token) >= 40 and b"lab" in stored and token.encode() not in stored
  again = run("admin", "--data", data, "create-team", "lab")
  assert again.returncode == 2 and "a team named 'lab' exists already" in again.stderr
  teams = [json.loads(line) for line in run("admin", "--data", data, "teams").stdout.splitlines()]
  assert [t["name"] for t in teams] == ["lab"]
  missing = run("admin", "--data", data, "publish", 5)
  assert missing.returncode == 2 and "job 5 does not exist" in missing.stderr


def test_the_worker_refuses_an_old_schema(tmp_path):
  data = tmp_path / "data"
  helpers.make_data(data)
  url = f"sqlite:///{tmp_path / 'old.sqlite'}"
  db.upgrade(db.engine(url), "0001")
  result = run("worker", "--data", data, "--db", url, "--once")
  assert result.returncode == 2 and "schema is at 0001, not 0002" in result.stderr
  assert "Traceback" not in result.stderr
