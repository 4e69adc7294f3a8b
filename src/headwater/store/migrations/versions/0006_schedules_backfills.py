"""schedules, ticks, backfills and start controls

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("start_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("schedule", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("backfill_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("logical_date", sa.Float(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_runs_backfill_id_state"), ["backfill_id", "state"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_runs_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pipeline", sa.String(length=200), nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("start_at", sa.Float(), nullable=True),
        sa.Column("end_at", sa.Float(), nullable=True),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("catchup", sa.String(length=10), nullable=False),
        sa.Column("max_catchup", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("checked_until", sa.Float(), nullable=False),
        sa.Column("next_tick_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_schedules")),
    )
    op.create_index(op.f("ix_schedules_state_next_tick_at"), "schedules", ["state", "next_tick_at"])
    op.create_table(
        "schedule_ticks",
        sa.Column("schedule", sa.String(length=200), nullable=False),
        sa.Column("tick_at", sa.Float(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("schedule", "tick_at", name=op.f("pk_schedule_ticks")),
    )
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("every", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("max_running", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfills")),
    )


def downgrade() -> None:
    op.drop_table("backfills")
    op.drop_table("schedule_ticks")
    op.drop_index(op.f("ix_schedules_state_next_tick_at"), table_name="schedules")
    op.drop_table("schedules")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_expires_at"))
        batch_op.drop_index(batch_op.f("ix_runs_backfill_id_state"))
        batch_op.drop_column("logical_date")
        batch_op.drop_column("backfill_id")
        batch_op.drop_column("schedule")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("start_at")
