"""Pipelines and their versions: specs stored as canonical JSON, one row per content hash."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from headwater.domain.canonical import canonical_json
from headwater.domain.records import NamedTuple
from headwater.domain.spec import PipelineSpec
from headwater.errors import NotFound
from headwater.store.sql import Sql, execute

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection


class PipelineRow(NamedTuple):
    """A row of the pipelines table."""

    name: str
    current_version_id: int | None
    origin: str
    enabled: bool
    deleted_at: float | None = None


class VersionRow(NamedTuple):
    """A row of the pipeline_versions table."""

    id: int
    content_hash: str
    created_at: float


# Registering a pipeline and reading it back are on every `headwater run`: hand-written
# statements on the driver (see headwater.store.sql).
_INSERT_PIPELINE = Sql(
    "INSERT INTO pipelines (name, origin, enabled, created_at, updated_at)"
    " VALUES (:name, :origin, :enabled, :now, :now) ON CONFLICT (name) DO NOTHING"
)
_INSERT_VERSION = Sql(
    "INSERT INTO pipeline_versions (pipeline, content_hash, spec, created_at)"
    " VALUES (:name, :hash, :spec, :now) ON CONFLICT (pipeline, content_hash) DO NOTHING"
)
_VERSION_ID = Sql(
    "SELECT id FROM pipeline_versions WHERE pipeline = :name AND content_hash = :hash"
)
_SET_CURRENT = Sql(
    "UPDATE pipelines SET current_version_id = :version, updated_at = :now, origin = :origin,"
    " deleted_at = NULL WHERE name = :name"
)
_SPEC = Sql("SELECT spec FROM pipeline_versions WHERE id = :id")
_FIND_PIPELINE = Sql(
    "SELECT name, current_version_id, origin, enabled, deleted_at FROM pipelines WHERE name = :name"
)


def save_version(conn: Connection, spec: PipelineSpec, origin: str, now: float) -> int:
    """Store `spec` as the pipeline's current version; the id of its (new or old) row.

    Several workers of one project register the same specs as they start, at the same
    time: inserts that would collide do nothing instead of failing."""
    names = {"name": spec.name, "hash": spec.content_hash, "now": now}
    execute(conn, _INSERT_PIPELINE, {**names, "origin": origin, "enabled": True})
    execute(conn, _INSERT_VERSION, {**names, "spec": canonical_json(spec.to_json_dict())})
    (version_id,) = execute(conn, _VERSION_ID, names).fetchone()
    execute(conn, _SET_CURRENT, {**names, "version": version_id, "origin": origin})
    return int(version_id)


def insert_ignoring_conflicts(dialect: str, table: sa.Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, in the dialect's own words."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=keys)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=keys)


def load_spec(conn: Connection, version_id: int) -> PipelineSpec:
    row = execute(conn, _SPEC, {"id": version_id}).fetchone()
    if row is None:
        raise NotFound(f"no pipeline version {version_id}")
    return PipelineSpec.from_json(json.loads(row[0]))


def find_pipeline(conn: Connection, name: str) -> PipelineRow | None:
    """The pipeline named `name`, deleted or not; None if there never was one."""
    row = execute(conn, _FIND_PIPELINE, {"name": name}).fetchone()
    if row is None:
        return None
    name, version_id, origin, enabled, deleted_at = row
    return PipelineRow(name, version_id, origin, bool(enabled), deleted_at)


def get_pipeline(conn: Connection, name: str) -> PipelineRow:
    """A pipeline that is not deleted."""
    found = find_pipeline(conn, name)
    if found is None or found.deleted_at is not None:
        raise NotFound(f"no pipeline named {name!r}")
    return found


def list_pipelines(conn: Connection) -> list[PipelineRow]:
    import sqlalchemy as sa

    from headwater.store.tables import pipelines

    rows = conn.execute(
        sa.select(pipelines).where(pipelines.c.deleted_at.is_(None)).order_by(pipelines.c.name)
    )
    return [_pipeline_row(r) for r in rows]


def set_enabled(conn: Connection, name: str, enabled: bool, now: float) -> None:
    from headwater.store.tables import pipelines

    conn.execute(
        pipelines.update().where(pipelines.c.name == name).values(enabled=enabled, updated_at=now)
    )


def mark_deleted(conn: Connection, name: str, now: float) -> None:
    from headwater.store.tables import pipelines

    conn.execute(
        pipelines.update().where(pipelines.c.name == name).values(deleted_at=now, updated_at=now)
    )


def list_versions(conn: Connection, name: str) -> list[VersionRow]:
    """The pipeline's versions, newest first."""
    import sqlalchemy as sa

    from headwater.store.tables import pipeline_versions

    rows = conn.execute(
        sa.select(
            pipeline_versions.c.id, pipeline_versions.c.content_hash, pipeline_versions.c.created_at
        )
        .where(pipeline_versions.c.pipeline == name)
        .order_by(pipeline_versions.c.id.desc())
    )
    return [VersionRow(r.id, r.content_hash, r.created_at) for r in rows]


def _pipeline_row(row: Any) -> PipelineRow:
    return PipelineRow(row.name, row.current_version_id, row.origin, row.enabled, row.deleted_at)
