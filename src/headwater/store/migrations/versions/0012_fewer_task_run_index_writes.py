"""fewer index writes per task run: the (run, state) index goes, and the cache key's
index holds only rows that have a key

A task run changes state three or four times (pending, ready, running, succeeded), and
each change moved its entry in the (run, state) index: 2-3 of the ~14 pages a chain step
wrote on SQLite, and on PostgreSQL, where a change of state is never a HOT update, a new
entry in every index of the table each time. The unique (run, node, map element)
constraint's index already finds a run's rows. A task run gets its cache key when its
attempt first writes to its log or ends; until then the cache key's index held the row
under NULL.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_HAS_KEY = "cache_key IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_task_runs_run_id_state", table_name="task_runs")
    op.drop_index("ix_task_runs_cache_key_id", table_name="task_runs")
    op.create_index(
        "ix_task_runs_cache_key_id",
        "task_runs",
        ["cache_key", "id"],
        unique=False,
        sqlite_where=sa.text(_HAS_KEY),
        postgresql_where=sa.text(_HAS_KEY),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_task_runs_cache_key_id",
        table_name="task_runs",
        sqlite_where=sa.text(_HAS_KEY),
        postgresql_where=sa.text(_HAS_KEY),
    )
    op.create_index("ix_task_runs_cache_key_id", "task_runs", ["cache_key", "id"], unique=False)
    op.create_index("ix_task_runs_run_id_state", "task_runs", ["run_id", "state"], unique=False)
