"""The server's database on SQLite and PostgreSQL: migrations keep data, claims are atomic, stale jobs are
reclaimed once, limits hold, tokens are stored hashed and names verbatim."""

import datetime
import threading

import pytest
import sqlalchemy as sa

import server_helpers as helpers
from nossbench.server import accounts, db, jobs

HOSTILE = "<script>alert('x')</script> \"; DROP TABLE teams; -- ' OR 1=1"


@pytest.fixture(params=helpers.BACKENDS)
def engine(request, tmp_path):
  urls = helpers.database_url(request.param, tmp_path)
  created = db.engine(next(urls))
  yield created
  created.dispose()
  next(urls, None)


def queue(engine, team_id, count, limits=jobs.Limits(100, 100)):
  return [jobs.enqueue(engine, team_id, f"sub {i}", [{"task": helpers.TASK, "path": "x.npz", "filename": "x.npz"}],
                       f"dir{i}", limits) for i in range(count)]


def test_upgrade_from_the_first_revision_keeps_the_data(engine):
  db.upgrade(engine, "0001")
  created = datetime.datetime(2026, 1, 2, 3, 4, 5)
  with engine.begin() as connection:
    connection.execute(sa.text("INSERT INTO teams (id, name, token_sha256, created_at) VALUES (7, :n, :h, :t)"),
                       {"n": HOSTILE, "h": "ab" * 32, "t": created})
    for job_id, state in ((1, "queued"), (2, "done")):
      connection.execute(sa.text(
          "INSERT INTO jobs (id, team_id, name, files, submission_dir, state, created_at, finished_at, attempts, "
          "result_dir) VALUES (:id, 7, :name, :files, 'd', :state, :t, :f, 1, :r)"),
          {"id": job_id, "name": f"job {job_id}", "files": '[{"task": "noss/crema_d"}]', "state": state,
           "t": created, "f": created if state == "done" else None, "r": "2/attempt-1" if state == "done" else None})
  db.upgrade(engine)
  db.require_current(engine)
  team = accounts.list_teams(engine)
  assert team == [{"id": 7, "name": HOSTILE, "created_at": created}]
  done = jobs.get(engine, 2)
  assert (done["name"], done["state"], done["result_dir"], done["published"]) == ("job 2", "done", "2/attempt-1", False)
  assert done["files"] == [{"task": "noss/crema_d"}]
  assert [(e["state"], e["at"]) for e in done["history"]] == [("queued", created), ("done", created)]
  assert [e["state"] for e in jobs.get(engine, 1)["history"]] == ["queued"]
  assert jobs.publish(engine, 2) == "done" and jobs.get(engine, 2)["published"]


def test_concurrent_claims_take_each_job_exactly_once(engine):
  db.upgrade(engine)
  team_id, _ = accounts.create_team(engine, "t")
  queued = queue(engine, team_id, 12)
  claimed, errors = {}, []

  def claimer(name):
    try:
      while (job := jobs.claim(engine, name, stale_after=600, max_attempts=3)) is not None:
        claimed.setdefault(job["id"], []).append(name)
    except Exception as error:  # pylint: disable=broad-except
      errors.append(error)

  threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert not errors
  assert sorted(claimed) == queued and all(len(names) == 1 for names in claimed.values())
  assert {j["state"] for j in jobs.listing(engine)} == {"running"}


def test_a_stale_job_is_reclaimed_and_only_the_new_claim_counts(engine):
  db.upgrade(engine)
  team_id, _ = accounts.create_team(engine, "t")
  [job_id] = queue(engine, team_id, 1)
  first = jobs.claim(engine, "w1", stale_after=600, max_attempts=2)
  assert first["id"] == job_id and jobs.claim(engine, "w2", stale_after=600, max_attempts=2) is None
  second = jobs.claim(engine, "w2", stale_after=0, max_attempts=2)  # w1's heartbeat is older than 0 s
  assert (second["id"], second["attempts"]) == (job_id, 2)
  assert not jobs.heartbeat(engine, first) and not jobs.finish(engine, first, "done", result_dir="stale")
  assert jobs.finish(engine, second, "done", result_dir="fresh")
  job = jobs.get(engine, job_id)
  assert (job["state"], job["result_dir"], job["attempts"]) == ("done", "fresh", 2)
  assert [e["state"] for e in job["history"]] == ["queued", "running", "running", "done"]
  assert "reclaimed from w1" in job["history"][2]["detail"]


def test_a_job_that_keeps_killing_workers_fails(engine):
  db.upgrade(engine)
  team_id, _ = accounts.create_team(engine, "t")
  [job_id] = queue(engine, team_id, 1)
  assert jobs.claim(engine, "w1", stale_after=0, max_attempts=2)["attempts"] == 1
  assert jobs.claim(engine, "w2", stale_after=0, max_attempts=2)["attempts"] == 2
  assert jobs.claim(engine, "w3", stale_after=0, max_attempts=2) is None
  job = jobs.get(engine, job_id)
  assert job["state"] == "failed" and "stopped 2 times" in job["reason"]


def test_rate_limit_and_queued_cap(engine):
  db.upgrade(engine)
  team_id, _ = accounts.create_team(engine, "t")
  other, _ = accounts.create_team(engine, "u")
  queue(engine, team_id, 3, jobs.Limits(per_minute=3, max_queued=10))
  with pytest.raises(jobs.TooMany, match="3 submissions in the last minute"):
    queue(engine, team_id, 1, jobs.Limits(per_minute=3, max_queued=10))
  with pytest.raises(jobs.TooMany, match="3 of your jobs are queued"):
    queue(engine, team_id, 1, jobs.Limits(per_minute=10, max_queued=3))
  assert len(queue(engine, other, 1, jobs.Limits(per_minute=3, max_queued=3))) == 1  # per team
  assert len(jobs.listing(engine, team_id=team_id)) == 3


def test_tokens_are_stored_hashed_and_names_verbatim(engine):
  db.upgrade(engine)
  team_id, token = accounts.create_team(engine, HOSTILE)
  assert len(token) >= 40
  with engine.connect() as connection:
    stored = [tuple(r) for r in connection.execute(sa.select(db.teams.c.name, db.teams.c.token_sha256))]
  assert stored == [(HOSTILE, accounts.token_hash(token))] and token not in str(stored)
  assert accounts.team_for_token(engine, token)["id"] == team_id
  assert accounts.team_for_token(engine, token[:-1] + "A" if token[-1] != "A" else token[:-1] + "B") is None
  assert accounts.team_for_token(engine, "") is None
  with pytest.raises(Exception, match="exists already"):
    accounts.create_team(engine, HOSTILE)
