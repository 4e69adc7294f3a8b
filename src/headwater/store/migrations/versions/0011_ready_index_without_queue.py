"""indexes the planner uses as meant on a new database: claim order without a queue
filter has an index of its own; the live leases' index no longer matches updates of one
attempt by id; the duplicate of the (run, node, map element) unique constraint's index is
dropped

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Workers that take every queue (the default) claim in (priority, id) order among
    # all ready task runs: without this index, the claim read every ready row and sorted
    # them, each time (a 10,000-element map: 10,000 rows read per claim).
    op.create_index(
        "ix_task_runs_ready",
        "task_runs",
        [sa.literal_column("priority DESC"), "id"],
        unique=False,
        sqlite_where=sa.text("state = 'ready'"),
        postgresql_where=sa.text("state = 'ready'"),
    )
    # 0008 added a unique index on the columns the unique constraint already indexes:
    # every write of a task run updated both.
    op.drop_index("ix_task_runs_run_id_node_id_map_index", table_name="task_runs")
    # Updates of one attempt by id, guarded by `state IN ('running')`, matched this
    # index's condition: before statistics existed, PostgreSQL read every live lease for
    # each of them. `lease_until IS NOT NULL` is always true; the reaper's
    # `lease_until < now` implies it, an update by id does not.
    _live_leases("state = 'running'", "state = 'running' AND lease_until IS NOT NULL")


def _live_leases(old: str, new: str) -> None:
    op.drop_index(
        "ix_attempts_live_leases",
        table_name="attempts",
        sqlite_where=sa.text(old),
        postgresql_where=sa.text(old),
    )
    op.create_index(
        "ix_attempts_live_leases",
        "attempts",
        ["lease_until"],
        unique=False,
        sqlite_where=sa.text(new),
        postgresql_where=sa.text(new),
    )


def downgrade() -> None:
    _live_leases("state = 'running' AND lease_until IS NOT NULL", "state = 'running'")
    op.create_index(
        "ix_task_runs_run_id_node_id_map_index",
        "task_runs",
        ["run_id", "node_id", "map_index"],
        unique=True,
    )
    op.drop_index(
        "ix_task_runs_ready",
        table_name="task_runs",
        sqlite_where=sa.text("state = 'ready'"),
        postgresql_where=sa.text("state = 'ready'"),
    )
