"""`headwater run` loads only what running a pipeline needs (start-up time, issue 7).

The timing itself is measured by bench/run.py (W4); this test keeps the imports that
made it slow from coming back: it reads Python's own import log (PYTHONPROFILEIMPORTTIME)
of a real `headwater run` of a one-task pipeline in a new project.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import explain, hw, one_task_project, summary_states

# What a run of plain Python tasks on SQLite, off a terminal, never uses.
NOT_IMPORTED = [
    "alembic",  # a new SQLite database is created from the schema snapshot
    "asyncio",  # only the API awaits
    # Standard library modules slow to import on a run's path (issue 7):
    "_hashlib",  # hashlib loads OpenSSL; small inputs are hashed by _sha256 (or _sha2)
    "ast",  # with dis, by inspect
    "bz2",  # by shutil
    "concurrent.futures",  # imports logging: the worker's threads are worker.threads
    "copy",  # only for a mutable default of a parameter
    "dataclasses",  # imports inspect: records are plain classes (domain.records)
    "dis",
    "fnmatch",  # by pathlib
    "hashlib",
    "inspect",  # authoring.functions reads plain functions; pkgutil's walk imported it
    "ipaddress",  # by urllib.parse
    "linecache",  # with tokenize, by traceback
    # Loaded when a line is first logged (headwater.logs) or a task's module loads it.
    "logging",
    "lzma",  # by shutil
    # Paths are strings (os.path); TaskContext.output_dir makes its Path when asked for.
    "pathlib",
    "pkgutil",  # the project's modules are listed by authoring.project
    "random",  # only for a retry's jitter (and by tempfile)
    "shutil",  # only to remove folders a task wrote files into
    "tempfile",  # the staging folder is made with os.mkdir
    "tokenize",
    "traceback",  # only to format a failure
    "urllib.parse",  # only for artifact stores given as URLs
    "croniter",  # only when a cron schedule is evaluated
    "fastapi",
    "fsspec",  # only for artifact stores that are not local folders
    "jinja2",
    "jsonschema",  # plain parameter schemas are checked without it
    "prometheus_client",
    # Specs, parameter schemas and argument checks of plain hints are made without it.
    "pydantic",
    "pydantic_core",
    "rich",  # off a terminal the summary is plain text
    # SQLite's statements on the run path are hand-written, on the driver (store.sql):
    # importing SQLAlchemy alone would take most of the start-up time.
    "sqlalchemy",
    "signal",  # only to stop command and process tasks
    "socket",  # the worker's host name comes from os.uname()
    "starlette",
    "subprocess",  # only command and process tasks start child processes
    "typer",  # usual `headwater run` command lines are parsed without click (cli.run_here)
    "uuid",  # ids from os.urandom
    "weakref",  # the store keeps each thread's connection beside the thread itself
    "uvicorn",
    "yaml",  # no recipe files
    "headwater.api",
    "headwater.authoring.commands",  # only for command tasks (`headwater.command`)
    "headwater.authoring.recipes",
    "headwater.domain.durations",  # only for --start-in
    "headwater.executors.subprocesses",  # only command and process tasks start a child
    "headwater.executors.command",  # a worker makes each executor when first used
    "headwater.executors.process",
    "headwater.services.expiry",  # loaded by a worker's first heartbeat
    "headwater.artifacts.remote",  # only for artifact stores that are not local folders
    "headwater.domain.backoff",  # only when an attempt is retried
    "headwater.domain.triggers",
    "headwater.scheduler",
    "headwater.store.backfills",  # only when a run of a backfill ends
    "headwater.store.expiry",  # only to end a run that has not started (expiry)
    "headwater.store.notifications",  # a run's end writes the outbox (store.outbox) only
    "headwater.web",
]


def test_headwater_run_imports_only_what_it_needs(tmp_path: Path) -> None:
    one_task_project(tmp_path)

    # A new project (its database created), then again (its database current; --force
    # so that the task runs again instead of being reused from the cache).
    for again in ([], ["--force"]):
        ran = hw("run", "just_one", *again, cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})

        assert ran.returncode == 0, explain(ran)
        assert summary_states(ran.stdout) == {"one": "succeeded"}, explain(ran)
        imported = {
            line.rsplit("|", 1)[1].strip()
            for line in ran.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        assert {
            "sqlite3",
            "headwater.domain.spec",
            "headwater.worker.worker",
        } <= imported  # the log is read
        assert sorted(imported & set(NOT_IMPORTED)) == []
