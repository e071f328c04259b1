"""Teams and their tokens. A token is shown once, when the team is created; only its sha256 is stored.

The token is 32 random bytes, so a plain sha256 (no salt, no slow hash) cannot be reversed or guessed, and
looking it up by its hash needs no per-team work. The stored hash is compared in constant time all the same.
"""

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from nossbench import UserError
from nossbench.server import db


def token_hash(token: str) -> str:
  return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_team(engine: sa.Engine, name: str) -> tuple[int, str]:
  """(team id, token); the name is stored exactly as given."""
  if not name.strip():
    raise UserError("a team name must hold something other than spaces")
  token = secrets.token_urlsafe(32)
  with db.transaction(engine, write=True) as connection:
    if connection.execute(sa.select(db.teams.c.id).where(db.teams.c.name == name)).first():
      raise UserError(f"a team named {name!r} exists already; choose another name")
    created = connection.execute(sa.insert(db.teams).values(name=name, token_sha256=token_hash(token),
                                                            created_at=db.now()))
  return created.inserted_primary_key[0], token


def team_for_token(engine: sa.Engine, token: str | None) -> dict | None:
  """The team whose token this is, or None."""
  if not token:
    return None
  digest = token_hash(token)
  with engine.connect() as connection:
    row = connection.execute(sa.select(db.teams).where(db.teams.c.token_sha256 == digest)).mappings().first()
  if row is None or not hmac.compare_digest(row["token_sha256"], digest):
    return None
  return dict(row)


def list_teams(engine: sa.Engine) -> list[dict]:
  with engine.connect() as connection:
    rows = connection.execute(sa.select(db.teams.c.id, db.teams.c.name, db.teams.c.created_at)
                              .order_by(db.teams.c.id)).mappings().all()
  return [dict(r) for r in rows]
