"""Pipelines and their versions: specs stored as canonical JSON, one row per content hash."""

from __future__ import annotations

import json
from dataclasses import dataclass

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
    """Store `spec` as the pipeline's current version; the id of its (new or old) row."""
    if conn.execute(sa.select(pipelines.c.name).where(pipelines.c.name == spec.name)).first():
        conn.execute(
            pipelines.update()
            .where(pipelines.c.name == spec.name)
            .values(updated_at=now, origin=origin)
        )
    else:
        conn.execute(
            pipelines.insert().values(
                name=spec.name, origin=origin, enabled=True, created_at=now, updated_at=now
            )
        )
    version_id = conn.execute(
        sa.select(pipeline_versions.c.id).where(
            pipeline_versions.c.pipeline == spec.name,
            pipeline_versions.c.content_hash == spec.content_hash,
        )
    ).scalar()
    if version_id is None:
        version_id = conn.execute(
            pipeline_versions.insert()
            .values(
                pipeline=spec.name,
                content_hash=spec.content_hash,
                spec=canonical_json(spec.to_json_dict()),
                created_at=now,
            )
            .returning(pipeline_versions.c.id)
        ).scalar_one()
    conn.execute(
        pipelines.update()
        .where(pipelines.c.name == spec.name)
        .values(current_version_id=version_id)
    )
    return int(version_id)


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
