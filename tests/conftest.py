"""Fixtures shared by every test layer.

Backends: `database_url` runs a test on SQLite (a file) and on the real PostgreSQL.
A test that needs a service it cannot reach skips with the reason, except under
CI=true, where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater.config import Settings
from headwater.services.context import Services, open_services

CI = os.environ.get("CI") == "true"
PG_ADMIN_URL = os.environ.get(
    "HEADWATER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def need_service(reason: str) -> None:
    """Skip (or, under CI, fail) because a service the test needs is unreachable."""
    if CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def _pg_admin() -> sa.Engine:
    # No pooled connection: a test that restarts PostgreSQL must not leave a dead one.
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (and xdist worker)."""
    name = f"headwater_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        need_service(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc.orig}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    from headwater.store.tables import metadata

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if sa.inspect(conn).has_table("runs"):
            names = ", ".join(t.name for t in metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> str:
    """This session's PostgreSQL database, emptied of what earlier tests stored (their
    runs would be cache hits)."""
    _truncate(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'headwater.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        project_dir=tmp_path,
        database_url=database_url,
        artifacts=str(tmp_path / "artifacts"),
        concurrency=4,
        lease_seconds=2.0,
        heartbeat_seconds=0.5,
        poll_seconds=0.05,
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = open_services(settings)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A local S3 API (moto's server on an ephemeral port); yields its endpoint URL.

    fsspec's s3 filesystem finds it through FSSPEC_S3_ENDPOINT_URL, as a user's would
    find a MinIO or other S3-compatible store."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in _S3_ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        FSSPEC_S3_ENDPOINT_URL=endpoint,
    )
    import fsspec.config

    # fsspec reads FSSPEC_* variables when it is first imported, which may have been
    # before this fixture ran: give it the endpoint directly too.
    saved_conf = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = {"endpoint_url": endpoint}
    yield endpoint
    if saved_conf is None:
        fsspec.config.conf.pop("s3", None)
    else:
        fsspec.config.conf["s3"] = saved_conf
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


_S3_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "FSSPEC_S3_ENDPOINT_URL",
)


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """An empty bucket; yields ``s3://<bucket>``."""
    import fsspec

    name = f"hw-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(name)
    return f"s3://{name}"
