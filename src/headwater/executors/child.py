"""The child side of the process executor: ``python -m headwater.executors.child REF``.

Reads the arguments (JSON) on stdin, imports the task `REF` (``module:qualname``),
calls it, and writes ``{"ok": true, "output": ...}`` or the error to HW_RESULT_FILE.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from headwater.context import TaskContext, set_context


def _load(reference: str) -> Any:
    module_name, _, qualname = reference.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def main(reference: str) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    env = os.environ
    set_context(
        TaskContext(
            env["HW_RUN_ID"],
            env["HW_PIPELINE"],
            env["HW_NODE_ID"],
            int(env["HW_MAP_INDEX"]),
            int(env["HW_ATTEMPT"]),
            env["HW_OUTPUT_DIR"],
            env["HW_ARTIFACT_ROOT"],
        )
    )
    try:
        arguments = json.loads(sys.stdin.read() or "{}")
        result: dict[str, Any] = {"ok": True, "output": _load(reference).invoke(arguments)}
        text = json.dumps(result)
    except BaseException as exc:  # noqa: BLE001 - report every failure to the parent
        traceback.print_exc()
        text = json.dumps(
            {
                "ok": False,
                "message": str(exc),
                "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix(
                    "builtins."
                ),
                "traceback": traceback.format_exc(),
            }
        )
    Path(env["HW_RESULT_FILE"]).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
