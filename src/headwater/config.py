"""Settings: defaults, then ``headwater.toml`` or ``[tool.headwater]`` in pyproject.toml,
then ``HEADWATER_*`` environment variables, then command-line flags.

Imports only the standard library (and `headwater.domain.records`), so every layer may
use it. Paths are strings (os.path): pathlib, with urllib.parse and ipaddress, would be
~9 % of the instructions of a one-task `headwater run`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from headwater.domain.records import FrozenRecord
from headwater.errors import ConfigError

if TYPE_CHECKING:
    from os import PathLike

STATE_DIR = ".headwater"
EXECUTORS = ("inline", "process")
SMTP_SECURITY = ("none", "starttls", "ssl")


class Settings(FrozenRecord):
    """A project's settings (see the module docstring for where they come from)."""

    __match_args__ = (
        "project_dir",
        "database_url",
        "artifacts",
        "pipelines_package",
        "concurrency",
        "default_executor",
        "lease_seconds",
        "heartbeat_seconds",
        "poll_seconds",
        "public_url",
        "smtp_host",
        "smtp_port",
        "smtp_from",
        "smtp_security",
        "smtp_username",
        "smtp_password",
        "api_secret",
        "cors_origins",
    )
    __slots__ = __match_args__
    project_dir: str  # load_settings makes it absolute; default: the current directory
    database_url: str  # default: sqlite file in the project's .headwater folder
    artifacts: str  # default: the project's .headwater/artifacts folder
    pipelines_package: str
    concurrency: int
    default_executor: str
    lease_seconds: float
    heartbeat_seconds: float
    poll_seconds: float
    # Where users reach the API: links in notifications (default: paths without a host).
    public_url: str
    # Email notifications go through this SMTP server; none are sent without a host.
    smtp_host: str
    smtp_port: int
    smtp_from: str
    smtp_security: str  # none, starttls or ssl
    smtp_username: str
    smtp_password: str
    # Key of the API's signed artifact links; empty: one is generated and kept in
    # .headwater/api-secret. Set it when several API servers must accept each other's links.
    api_secret: str
    # Origins allowed to call the API from a browser (comma-separated, "*" for any);
    # empty: no CORS headers, so browsers only allow same-origin pages.
    cors_origins: str

    def __init__(
        self,
        project_dir: str | PathLike[str] | None = None,
        database_url: str = "",
        artifacts: str = "",
        pipelines_package: str = "pipelines",
        concurrency: int = 4,
        default_executor: str = "inline",
        lease_seconds: float = 30.0,
        heartbeat_seconds: float = 10.0,
        poll_seconds: float = 0.5,
        public_url: str = "",
        smtp_host: str = "",
        smtp_port: int = 25,
        smtp_from: str = "headwater@localhost",
        smtp_security: str = "none",
        smtp_username: str = "",
        smtp_password: str = "",
        api_secret: str = "",
        cors_origins: str = "",
    ) -> None:
        self._set(
            project_dir=os.getcwd() if project_dir is None else os.fspath(project_dir),
            database_url=database_url,
            artifacts=artifacts,
            pipelines_package=pipelines_package,
            concurrency=concurrency,
            default_executor=default_executor,
            lease_seconds=lease_seconds,
            heartbeat_seconds=heartbeat_seconds,
            poll_seconds=poll_seconds,
            public_url=public_url,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            smtp_from=smtp_from,
            smtp_security=smtp_security,
            smtp_username=smtp_username,
            smtp_password=smtp_password,
            api_secret=api_secret,
            cors_origins=cors_origins,
        )
        self._check()

    def _check(self) -> None:
        if not self.database_url:
            db = os.path.join(self.project_dir, STATE_DIR, "headwater.db")
            self._set(database_url=f"sqlite:///{db}")
        if not self.artifacts:
            self._set(artifacts=os.path.join(self.project_dir, STATE_DIR, "artifacts"))
        if self.default_executor not in EXECUTORS:
            raise ConfigError(
                f"default_executor must be one of {', '.join(EXECUTORS)}, "
                f"not {self.default_executor!r}"
            )
        if self.smtp_security not in SMTP_SECURITY:
            raise ConfigError(
                f"smtp_security must be one of {', '.join(SMTP_SECURITY)}, "
                f"not {self.smtp_security!r}"
            )
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, not {self.concurrency}")
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ConfigError("heartbeat_seconds must be shorter than lease_seconds")

    def with_(self, **changes: Any) -> Settings:
        values = {name: getattr(self, name) for name in self.__match_args__}
        return Settings(**values | {k: v for k, v in changes.items() if v is not None})


_ENV = {
    name: "HEADWATER_" + name.upper() for name in Settings.__match_args__ if name != "project_dir"
}


def load_settings(project_dir: str | PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Settings for the project at `project_dir` (default: the current directory)."""
    root = os.path.realpath(project_dir or os.environ.get("HEADWATER_PROJECT") or os.getcwd())
    values: dict[str, Any] = {}
    values.update(_file_values(root))
    for name, var in _ENV.items():
        if var in os.environ:
            values[name] = os.environ[var]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _build(root, values)


def _file_values(root: str) -> dict[str, Any]:
    own = os.path.join(root, "headwater.toml")
    if os.path.exists(own):
        return _read_toml(own)
    pyproject = os.path.join(root, "pyproject.toml")
    if os.path.exists(pyproject):
        data = _read_toml(pyproject)
        table = data.get("tool", {}).get("headwater", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{pyproject}: [tool.headwater] must be a table")
        return table
    return {}


def _read_toml(path: str) -> dict[str, Any]:
    import tomllib  # only a project with a settings file needs it

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _build(root: str, values: dict[str, Any]) -> Settings:
    types = Settings.__annotations__
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        key = name.replace("-", "_")
        if key not in types or key == "project_dir":
            raise ConfigError(f"unknown setting {name!r} (known: {', '.join(sorted(_ENV))})")
        try:
            kwargs[key] = _coerce(types[key], value)
        except ValueError:
            raise ConfigError(f"setting {name}: {value!r} is not a {types[key]}") from None
    if kwargs.get("artifacts") and "://" not in kwargs["artifacts"]:
        kwargs["artifacts"] = os.path.realpath(os.path.join(root, kwargs["artifacts"]))
    return Settings(project_dir=root, **kwargs)


def _coerce(kind: Any, value: Any) -> Any:
    if kind in ("int", int):
        return int(value)
    if kind in ("float", float):
        return float(value)
    return str(value)
