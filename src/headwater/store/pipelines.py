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
        .values(current_version_id=version_id, updated_at=now, origin=origin)
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


def get_pipeline(conn: Connection, name: str) -> PipelineRow:
    row = conn.execute(sa.select(pipelines).where(pipelines.c.name == name)).first()
    if row is None:
        raise NotFound(f"no pipeline named {name!r}")
    return PipelineRow(row.name, row.current_version_id, row.origin, row.enabled)


def list_pipelines(conn: Connection) -> list[PipelineRow]:
    rows = conn.execute(sa.select(pipelines).order_by(pipelines.c.name))
    return [PipelineRow(r.name, r.current_version_id, r.origin, r.enabled) for r in rows]
