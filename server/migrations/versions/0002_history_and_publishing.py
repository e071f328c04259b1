"""A job's history (one row per state change) and publishing; existing jobs get their history so far.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
  with op.batch_alter_table("jobs") as batch:
    batch.add_column(sa.Column("published", sa.Boolean, nullable=False, server_default=sa.false()))
  op.create_table(
      "job_events",
      sa.Column("id", sa.Integer, primary_key=True),
      sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), nullable=False, index=True),
      sa.Column("at", sa.DateTime, nullable=False),
      sa.Column("state", sa.String(16), nullable=False),
      sa.Column("detail", sa.Text, nullable=False, server_default=""),
  )
  # What the jobs of revision 0001 tell: when each was queued and, if it has moved on, its state since.
  op.execute("INSERT INTO job_events (job_id, at, state, detail) SELECT id, created_at, 'queued', '' FROM jobs")
  op.execute("INSERT INTO job_events (job_id, at, state, detail) "
             "SELECT id, COALESCE(finished_at, started_at, created_at), state, COALESCE(reason, '') "
             "FROM jobs WHERE state <> 'queued'")


def downgrade():
  op.drop_table("job_events")
  with op.batch_alter_table("jobs") as batch:
    batch.drop_column("published")
