"""Teams (hashed tokens) and jobs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
  op.create_table(
      "teams",
      sa.Column("id", sa.Integer, primary_key=True),
      sa.Column("name", sa.Text, nullable=False, unique=True),
      sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
      sa.Column("created_at", sa.DateTime, nullable=False),
  )
  op.create_table(
      "jobs",
      sa.Column("id", sa.Integer, primary_key=True),
      sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id"), nullable=False, index=True),
      sa.Column("name", sa.Text, nullable=False),
      sa.Column("files", sa.JSON, nullable=False),
      sa.Column("submission_dir", sa.Text, nullable=False),
      sa.Column("state", sa.String(16), nullable=False, index=True),
      sa.Column("reason", sa.Text),
      sa.Column("created_at", sa.DateTime, nullable=False),
      sa.Column("started_at", sa.DateTime),
      sa.Column("finished_at", sa.DateTime),
      sa.Column("heartbeat_at", sa.DateTime),
      sa.Column("worker", sa.Text),
      sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
      sa.Column("result_dir", sa.Text),
  )


def downgrade():
  op.drop_table("jobs")
  op.drop_table("teams")
