"""The tables. Timestamps are seconds since the epoch (float) read from the database
clock (`Database.clock`), so every worker agrees on time whatever its own clock says."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _partial_index(name: str, *columns: Any, where: str) -> sa.Index:
    """An index of the rows matching `where` only, on SQLite and PostgreSQL.

    Only the SQLite option is named here: naming ``postgresql_where`` makes SQLAlchemy
    import its whole PostgreSQL dialect (~50 ms) in every process, SQLite ones too.
    `_postgresql_where` adds it just before tables are created on PostgreSQL (the
    migrations name both options themselves).
    """
    index = sa.Index(name, *columns, sqlite_where=sa.text(where))
    index.info["where"] = where
    return index


@sa.event.listens_for(metadata, "before_create")
def _postgresql_where(target: sa.MetaData, connection: sa.Connection, **_: Any) -> None:
    if connection.dialect.name != "postgresql":
        return
    for table in target.tables.values():
        for index in table.indexes:
            if "where" in index.info:
                index.dialect_kwargs["postgresql_where"] = sa.text(index.info["where"])


pipelines = sa.Table(
    "pipelines",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("current_version_id", sa.Integer, nullable=True),
    sa.Column("origin", sa.String(20), nullable=False),  # "code" or "api"
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # Set when a pipeline defined through the API is deleted: it is hidden and refuses
    # new runs, while its versions and runs stay readable.
    sa.Column("deleted_at", sa.Float, nullable=True),
)

# The tasks code locations define, registered when their workers (or `headwater serve`)
# start, so recipes posted through the API can be validated without importing user code.
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("definition", sa.Text, nullable=False),  # the TaskDef, canonical JSON
    sa.Column("location", sa.String(500), nullable=False),  # the project that registered it
    sa.Column("registered_at", sa.Float, nullable=False),
)

pipeline_versions = sa.Table(
    "pipeline_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(200), sa.ForeignKey("pipelines.name"), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),  # canonical JSON
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("pipeline", "content_hash"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("pipeline_versions.id"), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("args", sa.Text, nullable=False),  # JSON
    sa.Column("task_args", sa.Text, nullable=False),  # JSON: {node id: {param: value}}
    sa.Column("force", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resumed_from", sa.String(32), nullable=True),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tags", sa.Text, nullable=False, server_default="[]"),  # JSON list
    # Task runs not yet in a terminal state; the run ends when it reaches 0. A counter
    # instead of a COUNT(*) keeps completion O(1) on runs with 10,000 task runs.
    sa.Column("remaining", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
    # A caller's key for "start this run once": the same key with the same request gives
    # the same run; with another request, a conflict. The hash is of that request.
    sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    # Start controls: not claimable before start_at; ends as expired if it has not
    # started by expires_at.
    sa.Column("start_at", sa.Float, nullable=True),
    sa.Column("expires_at", sa.Float, nullable=True),
    # What created it: a schedule's tick or a backfill, for the logical date it covers.
    sa.Column("schedule", sa.String(200), nullable=True),
    sa.Column("backfill_id", sa.String(32), nullable=True),
    sa.Column("logical_date", sa.Float, nullable=True),
    sa.Index(None, "pipeline", "created_at"),
    sa.Index(None, "backfill_id", "state"),
    sa.Index(None, "expires_at"),
    sa.Index(None, "state", "created_at"),
)

task_runs = sa.Table(
    "task_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("node_id", sa.String(200), nullable=False),
    sa.Column("map_index", sa.Integer, nullable=False, server_default="-1"),  # -1: not a child
    sa.Column("task", sa.String(200), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("queue", sa.String(100), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("available_at", sa.Float, nullable=False),  # not claimable before (retry backoff)
    sa.Column("waiting_on", sa.Integer, nullable=False),  # upstream nodes not yet done
    sa.Column("is_map_parent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("cache_key", sa.String(64), nullable=True),
    sa.Column("args", sa.Text, nullable=True),  # merged arguments, JSON
    sa.Column("output", sa.Text, nullable=True),  # JSON when small; else only in the artifact
    # The output (and any files the task wrote) was committed to the artifact store; if
    # false, a small output lives only here (see services/outputs).
    sa.Column("artifact", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("error", sa.Text, nullable=True),  # why it failed without an attempt
    # JSON list of the concurrency-limit keys this task run falls under, e.g.
    # ["pipeline:etl", "task:etl.load", "queue:default", "tag:db"]
    sa.Column("limit_keys", sa.Text, nullable=False, server_default="[]"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("ended_at", sa.Float, nullable=True),
    # A node's row (map_index -1) or one map element: looked up on every completion
    # (the constraint's index serves those look-ups, and those of a run's rows).
    sa.UniqueConstraint("run_id", "node_id", "map_index"),
)
# The cache: the newest success with a key gives its output. Only rows with a key: a
# task run gets one as it ends, so its earlier writes do not touch this index.
_partial_index(
    "ix_task_runs_cache_key_id",
    task_runs.c.cache_key,
    task_runs.c.id,
    where="cache_key IS NOT NULL",
)
# Claim order is priority first, then age; the partial indexes hold only ready rows,
# in that order, for workers of every queue, for workers of some queues (by queue) and
# for one-run local execution (by run).
_partial_index(
    "ix_task_runs_ready",
    task_runs.c.priority.desc(),
    task_runs.c.id,
    where="state = 'ready'",
)
_partial_index(
    "ix_task_runs_ready_by_queue",
    task_runs.c.queue,
    task_runs.c.priority.desc(),
    task_runs.c.id,
    where="state = 'ready'",
)
_partial_index(
    "ix_task_runs_ready_by_run",
    task_runs.c.run_id,
    task_runs.c.priority.desc(),
    task_runs.c.id,
    where="state = 'ready'",
)

limits = sa.Table(
    "limits",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),  # "pipeline:etl", "tag:db", ...
    sa.Column("max_running", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# One row per slot of a limit. A slot is taken while its holder attempt is running, so
# a holder that dies (lost lease) frees its slot without anyone releasing it.
limit_slots = sa.Table(
    "limit_slots",
    metadata,
    sa.Column(
        "key", sa.String(300), sa.ForeignKey("limits.key", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("slot", sa.Integer, primary_key=True),
    sa.Column("attempt_id", sa.Integer, nullable=True),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("queues", sa.Text, nullable=False),  # JSON list; [] means every queue
    sa.Column("concurrency", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # running, stopping, stopped, dead
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("running", sa.Integer, nullable=False, server_default="0"),
    sa.Column("stopped_at", sa.Float, nullable=True),
    sa.Index(None, "state", "heartbeat_at"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # the fencing token
    sa.Column("task_run_id", sa.Integer, sa.ForeignKey("task_runs.id"), nullable=False),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("worker_id", sa.String(64), nullable=True),
    sa.Column("executor", sa.String(20), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Column("error_type", sa.String(200), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("traceback", sa.Text, nullable=True),
    sa.Column("log_label", sa.String(300), nullable=True),
    # Attempts claimed together to run one after another in one worker thread (a batch
    # of quick ones) share this id: if the worker dies, at most one of them was running.
    sa.Column("batch", sa.String(32), nullable=True),
    sa.Index(None, "task_run_id"),
    sa.Index(None, "run_id"),
    # For the reaper (`state = 'running' AND lease_until < now` implies this index's
    # condition). `lease_until IS NOT NULL` (always true) is there so that an update of
    # one attempt by id, guarded by `state IN ('running')`, does not imply it: until
    # statistics exist (a new database) PostgreSQL's planner took this index for those
    # updates and read every live lease for each.
    _partial_index(
        "ix_attempts_live_leases",
        "lease_until",
        where="state = 'running' AND lease_until IS NOT NULL",
    ),
)

# Sensors create runs from events: files appearing under a glob (kind "file"), a user's
# Python function (kind "custom", evaluated where its code is), and signed HTTP calls
# (kind "hook"). `config` is JSON whose fields depend on the kind.
sensors = sa.Table(
    "sensors",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=True),  # hooks: the HMAC key
    sa.Column("origin", sa.String(20), nullable=False),  # "code" or "recipe"
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cursor", sa.Text, nullable=True),  # custom sensors: handed back next time
    # Claimed by the scheduler that evaluates it (a conditional UPDATE moves it forward),
    # so several schedulers do not list the same folder at once.
    sa.Column("next_tick_at", sa.Float, nullable=False, server_default="0"),
    sa.Column("last_tick_at", sa.Float, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_run_id", sa.String(32), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# What a sensor has already turned into a run (a file's path and mtime or etag, a
# custom sensor's run key, a hook's delivery id). Inserted in the transaction that
# creates the run, so each key starts at most one run whatever crashes or races.
sensor_keys = sa.Table(
    "sensor_keys",
    metadata,
    sa.Column(
        "sensor",
        sa.String(200),
        sa.ForeignKey("sensors.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key_hash", sa.String(64), primary_key=True),  # sha256 of the key
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

# Where to tell about runs that ended: a webhook (url) or email (email_to, JSON list).
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(20), nullable=False),  # "webhook" or "email"
    sa.Column("url", sa.Text, nullable=True),
    sa.Column("email_to", sa.Text, nullable=True),
    sa.Column("events", sa.Text, nullable=False),  # JSON list: succeeded, failed, finished...
    sa.Column("pipeline", sa.String(200), nullable=True),  # None: every pipeline
    sa.Column("headers", sa.Text, nullable=False, server_default="{}"),
    sa.Column("secret", sa.Text, nullable=True),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("backoff_seconds", sa.Float, nullable=False),
    sa.Column("origin", sa.String(20), nullable=False),  # "code" or "api"
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# The outbox: one row per (notification, ended run), written in the transaction that
# ends the run, then delivered (and retried) by scheduler loops; `log` keeps each try.
notification_deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "notification_id",
        sa.Integer,
        sa.ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("event", sa.String(20), nullable=False),  # the run's final state
    sa.Column("state", sa.String(20), nullable=False),  # pending, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("claimed_until", sa.Float, nullable=True),
    sa.Column("log", sa.Text, nullable=False, server_default="[]"),  # JSON list of tries
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Index(None, "state", "next_attempt_at"),
    sa.Index(None, "notification_id", "id"),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("cron", sa.String(200), nullable=True),
    sa.Column("interval_seconds", sa.Float, nullable=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("start_at", sa.Float, nullable=True),  # no tick before
    sa.Column("end_at", sa.Float, nullable=True),  # no tick at or after
    sa.Column("args", sa.Text, nullable=False),  # JSON; strings may hold {{ templates }}
    sa.Column("catchup", sa.String(10), nullable=False),  # skip, latest, all
    sa.Column("max_catchup", sa.Integer, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),  # active, paused
    sa.Column("origin", sa.String(20), nullable=False),  # code, recipe, api
    sa.Column("description", sa.Text, nullable=False),
    # Ticks at or before this instant were handled (fired or skipped); the next one due.
    sa.Column("checked_until", sa.Float, nullable=False),
    sa.Column("next_tick_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index(None, "state", "next_tick_at"),
)

# One row per fired tick. The primary key is what makes a tick fire exactly once: it is
# inserted in the transaction that creates the tick's run, so a second scheduler
# inserting the same tick changes nothing.
schedule_ticks = sa.Table(
    "schedule_ticks",
    metadata,
    sa.Column("schedule", sa.String(200), primary_key=True),
    sa.Column("tick_at", sa.Float, primary_key=True),
    sa.Column("run_id", sa.String(32), nullable=True),  # None: no run (see error)
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

backfills = sa.Table(
    "backfills",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # running, succeeded, failed, cancelled
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("every", sa.String(100), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("args", sa.Text, nullable=False),  # JSON template, rendered per logical date
    sa.Column("max_running", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
)
