"""index task runs by (run, node, map element): completions look rows up by node

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_task_runs_run_id_node_id_map_index"),
        "task_runs",
        ["run_id", "node_id", "map_index"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_task_runs_run_id_node_id_map_index"), table_name="task_runs")
