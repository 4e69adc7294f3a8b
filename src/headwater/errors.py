"""The exceptions headwater raises.

    HeadwaterError
    ├── ConfigError            bad configuration (file, env var)
    ├── DefinitionError        a task or pipeline definition is wrong (carries Problems)
    │   └── DuplicateNameError two definitions share one name
    ├── ValidationError        arguments given to a run are wrong (carries Problems)
    ├── NotFound               a pipeline, run, task run or attempt does not exist
    ├── Conflict               the request contradicts what is stored (e.g. idempotency key)
    │   └── PipelineDisabled   a disabled pipeline was asked to start a run
    ├── Unauthenticated        a request carried no credentials (e.g. no webhook signature)
    ├── Forbidden              a request's credentials are wrong (e.g. a bad signature)
    ├── StaleLease             a heartbeat or result carried a lease that is no longer live
    └── StoreUnavailable       the database cannot be reached
        └── Contended          a transaction lost a deadlock or serialization race

Task failures are not exceptions: they are attempt outcomes stored as data.
An exception's message defaults to its class docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.domain.problems import Problem


class HeadwaterError(Exception):
    """Something went wrong in headwater."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(HeadwaterError):
    """The configuration is invalid."""


class _WithProblems(HeadwaterError):
    def __init__(self, problems: Sequence[Problem], message: str | None = None) -> None:
        self.problems = list(problems)
        lines = [message or (self.__doc__ or "").strip()]
        lines += [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class DefinitionError(_WithProblems):
    """The definition is invalid."""


class DuplicateNameError(DefinitionError):
    """Two definitions share one name."""


class ValidationError(_WithProblems):
    """The arguments are invalid."""


class NotFound(HeadwaterError):
    """Not found."""


class Conflict(HeadwaterError):
    """The request conflicts with what is stored."""


class Unauthenticated(HeadwaterError):
    """The request carries no credentials."""


class Forbidden(HeadwaterError):
    """The request's credentials are not valid."""


class StaleLease(HeadwaterError):
    """The lease is no longer live; the result or heartbeat was refused."""


class StoreUnavailable(HeadwaterError):
    """The database cannot be reached."""


class Contended(StoreUnavailable):
    """The database aborted the transaction to break a deadlock; running it again works."""


class PipelineDisabled(Conflict):
    """The pipeline is disabled: it starts no new runs until it is enabled again."""
