"""Concurrency limits: set, list, delete (see `headwater.store.limits`)."""

from __future__ import annotations

from headwater.domain.problems import Problem
from headwater.errors import NotFound, ValidationError
from headwater.services.context import Services
from headwater.store import limits as limit_store
from headwater.store.limits import KEY_KINDS, LimitRow


def check_key(key: str) -> None:
    kind, sep, name = key.partition(":")
    if not sep or kind not in KEY_KINDS or not name:
        raise ValidationError(
            [
                Problem(
                    "",
                    "key",
                    f"{key!r} is not KIND:NAME with KIND one of "
                    f"{', '.join(KEY_KINDS)} (e.g. pipeline:etl, tag:db)",
                )
            ]
        )


def set_limit(svc: Services, key: str, max_running: int) -> None:
    """At most `max_running` attempts of task runs under `key` run at once."""
    check_key(key)
    if max_running < 1:
        raise ValidationError([Problem("", "max_running", "must be at least 1")])
    with svc.db.write() as conn:
        limit_store.set_limit(conn, key, max_running, svc.db.clock(conn))


def delete_limit(svc: Services, key: str) -> None:
    with svc.db.write() as conn:
        if not limit_store.delete_limit(conn, key):
            raise NotFound(f"no limit on {key!r}")


def list_limits(svc: Services) -> list[LimitRow]:
    with svc.db.read() as conn:
        return limit_store.list_limits(conn)
