"""The public API (`headwater.__all__`) and the import layering of DESIGN.md rule 6.

Layers import downward only: entry points (cli, api, web, scheduler) -> worker ->
services -> store / executors / artifacts -> domain. The check parses every module
with `ast`, so it sees imports inside functions and TYPE_CHECKING blocks too.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import headwater

SRC = Path(headwater.__file__).resolve().parent
ENTRY_POINTS = ("cli", "api", "web", "scheduler", "local")

EXPECTED_ALL = [
    "DefinitionError",
    "HeadwaterError",
    "NotFound",
    "RunRequest",
    "RunResult",
    "SensorResult",
    "TaskContext",
    "ValidationError",
    "__version__",
    "command",
    "current_context",
    "file_sensor",
    "hook",
    "load_recipe",
    "notification",
    "pipeline",
    "run",
    "sensor",
    "schedule",
    "task",
]


def test_all_is_the_expected_public_api() -> None:
    assert sorted(headwater.__all__) == sorted(EXPECTED_ALL)
    assert len(set(headwater.__all__)) == len(headwater.__all__)


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_every_public_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from headwater import {name}", namespace)  # the spelling users write
    assert namespace[name] is getattr(headwater, name)


def test_public_names_are_what_they_claim() -> None:
    from headwater import (
        DefinitionError,
        HeadwaterError,
        NotFound,
        RunResult,
        TaskContext,
        ValidationError,
    )

    for error in (DefinitionError, NotFound, ValidationError):
        assert issubclass(error, HeadwaterError)
    assert isinstance(headwater.__version__, str)
    assert isinstance(RunResult, type)
    assert isinstance(TaskContext, type)
    assert callable(headwater.task)
    assert callable(headwater.pipeline)


def test_dir_lists_the_public_names_also_before_their_first_use() -> None:
    assert set(EXPECTED_ALL) <= set(dir(headwater))


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        headwater.no_such_name  # type: ignore[attr-defined]  # noqa: B018


# --- layering --------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every headwater module `tree` imports (absolute or relative, at any depth)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # `from headwater import errors` imports the submodule headwater.errors.
            found |= {f"{target}.{alias.name}" for alias in node.names if alias.name != "*"}
    return {name for name in found if name == "headwater" or name.startswith("headwater.")}


def _import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = _imports(tree, module, path.name == "__init__.py")
    return graph


def _existing(names: set[str], graph: dict[str, set[str]]) -> set[str]:
    """Keep only names that are modules (drop `headwater.errors.NotFound`-style names)."""
    return {name for name in names if name in graph}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations(graph: dict[str, set[str]], layer: str, forbidden: set[str]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _layer(module) == layer
        for target in _existing(targets, graph)
        if _layer(target) in forbidden
    )


GRAPH = _import_graph()


def test_the_import_scan_sees_the_code() -> None:
    """Guard for the checks below: they must not pass because nothing was scanned."""
    assert len(GRAPH) > 30
    assert "headwater.domain.dag" in GRAPH["headwater.domain.validate"]
    assert "headwater.store.runs" in GRAPH["headwater.services.runs"]
    assert "headwater.domain.spec" in GRAPH["headwater.domain.backoff"]


def test_the_import_scan_resolves_relative_and_from_imports() -> None:
    tree = ast.parse(
        "from . import spec\nfrom ..errors import NotFound\nimport headwater.store.runs\n"
        "from headwater import worker\nimport json\n"
        "def f():\n    from headwater.cli import main\n"
    )
    found = _imports(tree, "headwater.domain.dag", is_package=False)
    assert {
        "headwater.domain.spec",
        "headwater.errors",
        "headwater.store.runs",
        "headwater.worker",
        "headwater.cli",
        "headwater.cli.main",
    } <= found
    assert "json" not in found
    assert "headwater.services.x" in _imports(
        ast.parse("from .x import y"), "headwater.services", is_package=True
    )


def test_domain_imports_no_other_headwater_package_but_errors() -> None:
    bad = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _layer(module) == "domain"
        for target in targets
        if _layer(target) not in ("domain", "errors")
    )
    assert bad == []


def test_domain_does_not_import_config() -> None:
    assert _violations(GRAPH, "domain", {"config"}) == []


@pytest.mark.parametrize("layer", ["store", "artifacts", "executors"])
def test_lower_layers_do_not_import_services_worker_or_entry_points(layer: str) -> None:
    assert _violations(GRAPH, layer, {"services", "worker", *ENTRY_POINTS}) == []


def test_store_and_artifacts_do_not_import_each_other_or_executors() -> None:
    assert _violations(GRAPH, "store", {"artifacts", "executors"}) == []
    assert _violations(GRAPH, "artifacts", {"store", "executors"}) == []


def test_services_do_not_import_worker_or_entry_points() -> None:
    assert _violations(GRAPH, "services", {"worker", *ENTRY_POINTS}) == []


def test_worker_does_not_import_entry_points() -> None:
    assert _violations(GRAPH, "worker", set(ENTRY_POINTS)) == []


def test_authoring_does_not_import_runtime_layers() -> None:
    assert _violations(GRAPH, "authoring", {"store", "services", "worker", *ENTRY_POINTS}) == []


def test_authoring_imports_only_domain_errors_and_config() -> None:
    allowed = {"authoring", "domain", "errors", "config"}
    layers = {_layer(module) for module in GRAPH} - allowed
    assert _violations(GRAPH, "authoring", layers) == []


def test_every_package_is_importable() -> None:
    for module in GRAPH:
        if module.startswith("headwater.store.migrations"):
            continue  # alembic's env.py runs only under alembic
        importlib.import_module(module)


# --- headwater.client ------------------------------------------------------------------

EXPECTED_CLIENT_ALL = [
    "Accepted",
    "ApiConflict",
    "ApiDefinitionError",
    "ApiError",
    "ApiNotFound",
    "ApiPipelineDisabled",
    "ApiValidationError",
    "Attempt",
    "Client",
    "Pipeline",
    "Run",
    "RunTimeout",
    "ServerUnavailable",
    "TaskRun",
]


def test_the_client_exports_the_expected_names() -> None:
    import headwater.client

    assert sorted(headwater.client.__all__) == sorted(EXPECTED_CLIENT_ALL)
    namespace: dict[str, object] = {}
    exec("from headwater.client import Client, ApiError", namespace)
    assert issubclass(namespace["ApiError"], headwater.HeadwaterError)  # type: ignore[arg-type]


def test_the_client_needs_no_server_side_layer() -> None:
    """A program that only talks to a server imports errors and domain types, nothing
    that opens databases or runs tasks."""
    bad = sorted(
        target
        for target in _existing(GRAPH["headwater.client"], GRAPH)
        if _layer(target) not in ("errors", "domain")
    )
    assert bad == []
