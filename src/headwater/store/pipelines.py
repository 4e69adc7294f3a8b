"""Pipelines and their versions: specs stored as canonical JSON, one row per content hash."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.domain.canonical import canonical_json
from headwater.domain.spec import PipelineSpec
from headwater.errors import NotFound
from headwater.store.tables import pipeline_versions, pipelines


@dataclass(frozen=True)
class PipelineRow:
    name: str
    current_version_id: int | None
    origin: str
    enabled: bool
    deleted_at: float | None = None


@dataclass(frozen=True)
class VersionRow:
    id: int
    content_hash: str
    created_at: float


def save_version(conn: Connection, spec: PipelineSpec, origin: str, now: float) -> int:
    """Store `spec` as the pipeline's current version; the id of its (new or old) row.

    Several workers of one project register the same specs as they start, at the same
    time: inserts that would collide do nothing instead of failing."""
    dialect = conn.dialect.name
    conn.execute(
        insert_ignoring_conflicts(dialect, pipelines, ["name"]).values(
            name=spec.name, origin=origin, enabled=True, created_at=now, updated_at=now
        )
    )
    conn.execute(
        insert_ignoring_conflicts(dialect, pipeline_versions, ["pipeline", "content_hash"]).values(
            pipeline=spec.name,
            content_hash=spec.content_hash,
            spec=canonical_json(spec.to_json_dict()),
            created_at=now,
        )
    )
    version_id = conn.execute(
        sa.select(pipeline_versions.c.id).where(
            pipeline_versions.c.pipeline == spec.name,
            pipeline_versions.c.content_hash == spec.content_hash,
        )
    ).scalar_one()
    conn.execute(
        pipelines.update()
        .where(pipelines.c.name == spec.name)
        .values(current_version_id=version_id, updated_at=now, origin=origin, deleted_at=None)
    )
    return int(version_id)


def insert_ignoring_conflicts(dialect: str, table: sa.Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, in the dialect's own words."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=keys)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=keys)


def load_spec(conn: Connection, version_id: int) -> PipelineSpec:
    text = conn.execute(
        sa.select(pipeline_versions.c.spec).where(pipeline_versions.c.id == version_id)
    ).scalar()
    if text is None:
        raise NotFound(f"no pipeline version {version_id}")
    return PipelineSpec.model_validate(json.loads(text))


_FIND_PIPELINE = sa.select(pipelines).where(pipelines.c.name == sa.bindparam("b_name"))


def find_pipeline(conn: Connection, name: str) -> PipelineRow | None:
    """The pipeline named `name`, deleted or not; None if there never was one."""
    row = conn.execute(_FIND_PIPELINE, {"b_name": name}).first()
    return _pipeline_row(row) if row is not None else None


def get_pipeline(conn: Connection, name: str) -> PipelineRow:
    """A pipeline that is not deleted."""
    found = find_pipeline(conn, name)
    if found is None or found.deleted_at is not None:
        raise NotFound(f"no pipeline named {name!r}")
    return found


def list_pipelines(conn: Connection) -> list[PipelineRow]:
    rows = conn.execute(
        sa.select(pipelines).where(pipelines.c.deleted_at.is_(None)).order_by(pipelines.c.name)
    )
    return [_pipeline_row(r) for r in rows]


def set_enabled(conn: Connection, name: str, enabled: bool, now: float) -> None:
    conn.execute(
        pipelines.update().where(pipelines.c.name == name).values(enabled=enabled, updated_at=now)
    )


def mark_deleted(conn: Connection, name: str, now: float) -> None:
    conn.execute(
        pipelines.update().where(pipelines.c.name == name).values(deleted_at=now, updated_at=now)
    )


def list_versions(conn: Connection, name: str) -> list[VersionRow]:
    """The pipeline's versions, newest first."""
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
