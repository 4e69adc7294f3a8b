"""small outputs live in the database: task runs say whether theirs is an artifact, and
are found by cache key

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: batch mode would copy the table on SQLite and rebuild its
    # partial claim indexes without their DESC order.
    op.add_column(
        "task_runs", sa.Column("artifact", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    # Until now every success was also committed as files: the cache keeps finding
    # those in the artifact store, as before.
    op.execute(
        "UPDATE task_runs SET artifact = true WHERE state IN ('succeeded', 'cached')"
        " AND output IS NOT NULL"
    )
    op.create_index(op.f("ix_task_runs_cache_key_id"), "task_runs", ["cache_key", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_task_runs_cache_key_id"), table_name="task_runs")
    op.drop_column("task_runs", "artifact")
