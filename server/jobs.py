"""The job queue in the database: enqueue under the team's limits, claim, heartbeat, finish, cancel, publish.

A job is queued -> running -> done | failed (reason) | cancelled. Every change is conditional on the state
(and, for a running job, on the worker and attempt that claimed it), so a worker whose job was cancelled
or reclaimed cannot mark it: each job is scored once in effect, whoever else started it. Each change is
also written to `job_events`, the job's history.
"""

import dataclasses
import datetime

import sqlalchemy as sa

from nossbench.server import db

J = db.jobs.c


@dataclasses.dataclass(frozen=True)
class Limits:
  per_minute: int = 10  # accepted uploads per team in any 60 seconds
  max_queued: int = 20  # jobs of one team waiting at once


class TooMany(Exception):
  """A team is over its rate limit or its cap on queued jobs (HTTP 429)."""


def _event(connection, job_id: int, state: str, detail: str = "") -> None:
  connection.execute(sa.insert(db.job_events).values(job_id=job_id, at=db.now(), state=state, detail=detail))


def over_limits(connection, team_id: int, limits: Limits) -> str | None:
  """Why the team may not queue another job now, or None."""
  recent = connection.execute(sa.select(sa.func.count()).select_from(db.jobs).where(
      J.team_id == team_id, J.created_at > db.now() - datetime.timedelta(seconds=60))).scalar_one()
  if recent >= limits.per_minute:
    return f"rate limit: {recent} submissions in the last minute (at most {limits.per_minute}); try again later"
  queued = connection.execute(sa.select(sa.func.count()).select_from(db.jobs).where(
      J.team_id == team_id, J.state == "queued")).scalar_one()
  if queued >= limits.max_queued:
    return f"{queued} of your jobs are queued (at most {limits.max_queued}); wait for them or cancel some"
  return None


def check_limits(engine: sa.Engine, team_id: int, limits: Limits) -> None:
  with engine.connect() as connection:
    reason = over_limits(connection, team_id, limits)
  if reason:
    raise TooMany(reason)


def enqueue(engine: sa.Engine, team_id: int, name: str, files: list[dict], submission_dir: str,
            limits: Limits) -> int:
  """Queues a validated submission; the limits are checked again under the team's lock."""
  with db.transaction(engine, write=True) as connection:
    connection.execute(sa.select(db.teams.c.id).where(db.teams.c.id == team_id).with_for_update())
    reason = over_limits(connection, team_id, limits)
    if reason:
      raise TooMany(reason)
    job_id = connection.execute(sa.insert(db.jobs).values(
        team_id=team_id, name=name, files=files, submission_dir=submission_dir, state="queued",
        created_at=db.now(), attempts=0, published=False)).inserted_primary_key[0]
    _event(connection, job_id, "queued")
  return job_id


def claim(engine: sa.Engine, worker: str, stale_after: float, max_attempts: int) -> dict | None:
  """Takes the oldest queued job, or a running one whose worker stopped heartbeating; None when there is none.

  One transaction: PostgreSQL skips rows another worker has locked (FOR UPDATE SKIP LOCKED); SQLite holds
  its write lock from BEGIN IMMEDIATE, so two workers never take the same job. A job whose workers stopped
  `max_attempts` times is failed instead of being tried again.
  """
  while True:
    with db.transaction(engine, write=True) as connection:
      stale = db.now() - datetime.timedelta(seconds=stale_after)
      job = connection.execute(
          sa.select(db.jobs).where(sa.or_(J.state == "queued", sa.and_(J.state == "running", J.heartbeat_at < stale)))
          .order_by(J.id).limit(1).with_for_update(skip_locked=True)).mappings().first()
      if job is None:
        return None
      previous = f"; reclaimed from {job['worker']}, which stopped heartbeating" if job["state"] == "running" else ""
      if job["state"] == "running" and job["attempts"] >= max_attempts:
        reason = f"scoring stopped {job['attempts']} times without finishing (its workers died); not retried"
        connection.execute(sa.update(db.jobs).where(J.id == job["id"]).values(
            state="failed", reason=reason, finished_at=db.now()))
        _event(connection, job["id"], "failed", reason)
        continue
      attempt = job["attempts"] + 1
      at = db.now()
      connection.execute(sa.update(db.jobs).where(J.id == job["id"]).values(
          state="running", worker=worker, attempts=attempt, started_at=at, heartbeat_at=at))
      _event(connection, job["id"], "running", f"{worker}, attempt {attempt}{previous}")
      return {**job, "state": "running", "worker": worker, "attempts": attempt}


def _ours(job: dict):
  return sa.and_(J.id == job["id"], J.state == "running", J.worker == job["worker"], J.attempts == job["attempts"])


def heartbeat(engine: sa.Engine, job: dict) -> bool:
  """Marks the claimed job alive; False when it is no longer ours (cancelled, or reclaimed by another worker)."""
  with db.transaction(engine, write=True) as connection:
    return connection.execute(sa.update(db.jobs).where(_ours(job)).values(heartbeat_at=db.now())).rowcount == 1


def finish(engine: sa.Engine, job: dict, state: str, reason: str | None = None, result_dir: str | None = None) -> bool:
  """done/failed, only if the job is still this worker's claim; False when it was not (nothing changed)."""
  with db.transaction(engine, write=True) as connection:
    changed = connection.execute(sa.update(db.jobs).where(_ours(job)).values(
        state=state, reason=reason, result_dir=result_dir, finished_at=db.now())).rowcount
    if changed:
      _event(connection, job["id"], state, reason or "")
  return changed == 1


def release(engine: sa.Engine, job: dict) -> None:
  """Puts a claimed job back in the queue (its worker is stopping); its attempt does not count."""
  with db.transaction(engine, write=True) as connection:
    if connection.execute(sa.update(db.jobs).where(_ours(job)).values(
        state="queued", worker=None, heartbeat_at=None, attempts=job["attempts"] - 1)).rowcount:
      _event(connection, job["id"], "queued", f"{job['worker']} stopped and gave it back")


def cancel(engine: sa.Engine, job_id: int, team_id: int | None = None) -> str | None:
  """Cancels a queued or running job (of `team_id` when given); returns the state it is in after, None if unknown."""
  with db.transaction(engine, write=True) as connection:
    where = [J.id == job_id] + ([J.team_id == team_id] if team_id is not None else [])
    job = connection.execute(sa.select(J.state).where(*where).with_for_update()).first()
    if job is None:
      return None
    if job.state in ("queued", "running"):
      connection.execute(sa.update(db.jobs).where(J.id == job_id).values(state="cancelled", finished_at=db.now()))
      _event(connection, job_id, "cancelled")
      return "cancelled"
    return job.state


def publish(engine: sa.Engine, job_id: int, published: bool = True) -> str | None:
  """Makes a done job's result public (or private again); returns the job's state, None if unknown."""
  with db.transaction(engine, write=True) as connection:
    job = connection.execute(sa.select(J.state).where(J.id == job_id)).first()
    if job is None or job.state != "done":
      return None if job is None else job.state
    connection.execute(sa.update(db.jobs).where(J.id == job_id).values(published=published))
    _event(connection, job_id, "done", "published" if published else "unpublished")
    return "done"


def get(engine: sa.Engine, job_id: int) -> dict | None:
  with engine.connect() as connection:
    job = connection.execute(sa.select(db.jobs, db.teams.c.name.label("team")).join(db.teams)
                             .where(J.id == job_id)).mappings().first()
    if job is None:
      return None
    events = connection.execute(sa.select(db.job_events).where(db.job_events.c.job_id == job_id)
                                .order_by(db.job_events.c.id)).mappings().all()
  return {**job, "history": [dict(e) for e in events]}


def listing(engine: sa.Engine, team_id: int | None = None, state: str | None = None,
            published: bool | None = None) -> list[dict]:
  query = sa.select(db.jobs, db.teams.c.name.label("team")).join(db.teams).order_by(J.id)
  if team_id is not None:
    query = query.where(J.team_id == team_id)
  if state is not None:
    query = query.where(J.state == state)
  if published is not None:
    query = query.where(J.published == published)
  with engine.connect() as connection:
    return [dict(r) for r in connection.execute(query).mappings().all()]
