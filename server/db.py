"""The database: tables, engines, migrations (Alembic) and transactions, for SQLite and PostgreSQL alike.

Queries are SQLAlchemy Core on the tables below; the migrations in `migrations/versions` create them. A
write that must see a consistent count or claim a row (enqueue under the rate limit, claiming a job) runs
in `transaction(engine, write=True)`: SQLite then takes its write lock at BEGIN (BEGIN IMMEDIATE), and
PostgreSQL rows are locked with SELECT ... FOR UPDATE [SKIP LOCKED] by the caller.
"""

import contextlib
import datetime
import pathlib

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from nossbench import UserError

MIGRATIONS = pathlib.Path(__file__).parent / "migrations"
STATES = ("queued", "running", "done", "failed", "cancelled")

metadata = sa.MetaData()

teams = sa.Table(
    "teams", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id"), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("files", sa.JSON, nullable=False),  # [{"task", "path" (server's), "filename" (client's)}]
    sa.Column("submission_dir", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("heartbeat_at", sa.DateTime),
    sa.Column("worker", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("result_dir", sa.Text),
    sa.Column("published", sa.Boolean, nullable=False, default=False),
)

job_events = sa.Table(
    "job_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), nullable=False, index=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
)


def now() -> datetime.datetime:
  """UTC, naive (SQLite has no time zones): every process of the server compares these."""
  return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def default_url(data_dir) -> str:
  return f"sqlite:///{pathlib.Path(data_dir).resolve() / 'server.sqlite'}"


def engine(url: str) -> sa.Engine:
  """An engine; for SQLite, WAL (readers never wait for the writer), a busy timeout, and our own BEGIN."""
  if not url.startswith("sqlite"):
    return sa.create_engine(url, pool_pre_ping=True)
  created = sa.create_engine(url, connect_args={"timeout": 60})

  @sa.event.listens_for(created, "connect")
  def _connect(dbapi_connection, _record):
    dbapi_connection.isolation_level = None  # pysqlite's own BEGIN would defer the lock; _begin emits ours
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA foreign_keys=ON")

  @sa.event.listens_for(created, "begin")
  def _begin(connection):
    connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("write") else "BEGIN")

  return created


@contextlib.contextmanager
def transaction(engine_: sa.Engine, write: bool = False):
  """A connection in one transaction, committed on success. `write`: SQLite locks for writing at BEGIN."""
  with engine_.connect() as connection:
    connection.execution_options(write=write)
    with connection.begin():
      yield connection


def _config(connection: sa.Connection) -> Config:
  config = Config()
  config.set_main_option("script_location", str(MIGRATIONS))
  config.attributes["connection"] = connection
  return config


def upgrade(engine_: sa.Engine, revision: str = "head") -> None:
  """Brings the schema to `revision`, keeping the data (Alembic migrations)."""
  with engine_.begin() as connection:
    command.upgrade(_config(connection), revision)


def require_current(engine_: sa.Engine) -> None:
  """Refuses a database whose schema is not the newest (the server upgrades it when it starts)."""
  head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
  with engine_.connect() as connection:
    current = MigrationContext.configure(connection).get_current_revision()
  if current != head:
    raise UserError(f"{engine_.url.render_as_string(hide_password=True)}: the database schema is at "
                    f"{current or 'nothing'}, not {head}; run `nossbench-server admin upgrade` (or start "
                    "`nossbench-server serve`, which upgrades it) first.")
