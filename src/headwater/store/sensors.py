"""Sensors, the keys they turned into runs, their cursors and who evaluates them when."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from headwater.domain.canonical import sha256_hex
from headwater.errors import NotFound
from headwater.store.pipelines import insert_ignoring_conflicts
from headwater.store.tables import sensor_keys, sensors


@dataclass(frozen=True)
class SensorRow:
    name: str
    kind: str
    pipeline: str
    config: dict[str, Any]
    secret: str | None
    origin: str
    paused: bool
    cursor: str | None
    next_tick_at: float
    last_tick_at: float | None
    last_error: str | None
    last_run_id: str | None
    created_at: float
    updated_at: float


def _sensor(row: Row[Any]) -> SensorRow:
    values = row._asdict()
    values["config"] = json.loads(values["config"])
    return SensorRow(**values)


def save_sensor(
    conn: Connection,
    *,
    name: str,
    kind: str,
    pipeline: str,
    config: dict[str, Any],
    secret: str | None,
    origin: str,
    now: float,
) -> None:
    """Create or update the sensor's definition; its paused flag, cursor and seen keys
    are the operator's and the sensor's own state, and survive a redefinition."""
    definition = {
        "kind": kind,
        "pipeline": pipeline,
        "config": json.dumps(config, sort_keys=True),
        "secret": secret,
        "origin": origin,
    }
    conn.execute(
        insert_ignoring_conflicts(conn.dialect.name, sensors, ["name"]).values(
            name=name, created_at=now, updated_at=now, **definition
        )
    )
    stored = conn.execute(
        sa.select(*(sensors.c[column] for column in definition)).where(sensors.c.name == name)
    ).one()
    if stored._asdict() != definition:
        conn.execute(
            sensors.update().where(sensors.c.name == name).values(updated_at=now, **definition)
        )


def list_sensors(conn: Connection) -> list[SensorRow]:
    return [_sensor(r) for r in conn.execute(sa.select(sensors).order_by(sensors.c.name))]


def find_sensor(conn: Connection, name: str) -> SensorRow | None:
    row = conn.execute(sa.select(sensors).where(sensors.c.name == name)).first()
    return _sensor(row) if row is not None else None


def get_sensor(conn: Connection, name: str) -> SensorRow:
    found = find_sensor(conn, name)
    if found is None:
        raise NotFound(f"no sensor named {name!r}")
    return found


def set_paused(conn: Connection, name: str, paused: bool, now: float) -> None:
    get_sensor(conn, name)
    conn.execute(
        sensors.update()
        .where(sensors.c.name == name)
        .values(paused=paused, updated_at=now, next_tick_at=0.0)
    )


def due_sensors(conn: Connection, kinds: tuple[str, ...], now: float) -> list[SensorRow]:
    query = (
        sa.select(sensors)
        .where(
            sensors.c.kind.in_(kinds),
            sensors.c.paused.is_(False),
            sensors.c.next_tick_at <= now,
        )
        .order_by(sensors.c.next_tick_at)
    )
    return [_sensor(r) for r in conn.execute(query)]


def claim_tick(conn: Connection, sensor: SensorRow, next_tick_at: float) -> bool:
    """Move the sensor's next tick forward if no one else did since it was read: the
    scheduler that wins evaluates it this time; the others skip it."""
    result = conn.execute(
        sensors.update()
        .where(sensors.c.name == sensor.name, sensors.c.next_tick_at == sensor.next_tick_at)
        .values(next_tick_at=next_tick_at)
    )
    return result.rowcount == 1


def record_tick(
    conn: Connection, name: str, now: float, error: str | None, run_id: str | None = None
) -> None:
    values: dict[str, Any] = {"last_tick_at": now, "last_error": error}
    if run_id is not None:
        values["last_run_id"] = run_id
    conn.execute(sensors.update().where(sensors.c.name == name).values(**values))


def swap_cursor(conn: Connection, name: str, old: str | None, new: str | None) -> bool:
    """Store `new` as the cursor if it is still `old`: False when another evaluation
    moved it meanwhile (then its run requests must be dropped)."""
    current = sensors.c.cursor.is_(None) if old is None else sensors.c.cursor == old
    result = conn.execute(
        sensors.update().where(sensors.c.name == name, current).values(cursor=new)
    )
    return result.rowcount == 1


def key_hash(key: str) -> str:
    return sha256_hex(key)


def seen_keys(conn: Connection, sensor: str, keys: list[str]) -> set[str]:
    """The ones among `keys` that the sensor already turned into runs."""
    seen: set[str] = set()
    hashes = {key_hash(k): k for k in keys}
    chunk = list(hashes)
    # Bounded IN lists: SQLite caps the number of bound parameters per statement.
    for start in range(0, len(chunk), 500):
        rows = conn.execute(
            sa.select(sensor_keys.c.key_hash).where(
                sensor_keys.c.sensor == sensor,
                sensor_keys.c.key_hash.in_(chunk[start : start + 500]),
            )
        ).scalars()
        seen.update(hashes[h] for h in rows)
    return seen


def claim_key(conn: Connection, sensor: str, key: str, now: float) -> bool:
    """Record `key` as seen by the sensor; False if it already was. On PostgreSQL a
    concurrent transaction holding the same key makes this wait for its outcome."""
    inserted = conn.execute(
        insert_ignoring_conflicts(conn.dialect.name, sensor_keys, ["sensor", "key_hash"])
        .values(sensor=sensor, key_hash=key_hash(key), key=key, created_at=now)
        # RETURNING, not rowcount: psycopg reports no row count for this INSERT.
        .returning(sensor_keys.c.key_hash)
    ).first()
    return inserted is not None


def set_key_run(conn: Connection, sensor: str, key: str, run_id: str) -> None:
    conn.execute(
        sensor_keys.update()
        .where(sensor_keys.c.sensor == sensor, sensor_keys.c.key_hash == key_hash(key))
        .values(run_id=run_id)
    )


def find_key_run(conn: Connection, sensor: str, key: str) -> str | None:
    """The run a seen key started (None if unseen or if it started none)."""
    row = conn.execute(
        sa.select(sensor_keys.c.run_id).where(
            sensor_keys.c.sensor == sensor, sensor_keys.c.key_hash == key_hash(key)
        )
    ).first()
    return row.run_id if row is not None else None


def count_keys(conn: Connection, sensor: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(sensor_keys)
            .where(sensor_keys.c.sensor == sensor)
        ).scalar_one()
    )
