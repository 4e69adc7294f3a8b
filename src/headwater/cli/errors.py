"""The CLI's one error handler: a clear message on stderr and a meaningful exit code.

It exits with `SystemExit`, which click lets through unchanged, so the handler also
serves `headwater run` when that is parsed without click (see `headwater.cli.run_here`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from headwater.errors import (
    ConfigError,
    DefinitionError,
    HeadwaterError,
    NotFound,
    ValidationError,
)

EXIT_FAILED = 1  # the run did not succeed
EXIT_INVALID = 2  # bad definitions, arguments or usage: nothing was run


@contextmanager
def handled() -> Iterator[None]:
    try:
        yield
    except (DefinitionError, ValidationError) as exc:
        _say(f"error: {exc.args[0].splitlines()[0]}")
        for problem in exc.problems:
            _say(f"  {problem}")
        raise SystemExit(EXIT_INVALID) from None
    except (NotFound, ConfigError) as exc:
        _say(f"error: {exc}")
        raise SystemExit(EXIT_INVALID) from None
    except HeadwaterError as exc:
        _say(f"error: {exc}")
        raise SystemExit(EXIT_FAILED) from None


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
