"""Projects found from code (Datanectar): a folder with a `pipelines/` package.

Every module under `pipelines/` is imported and every recipe file (.yaml, .yml, .json)
under it is loaded, with no registration code. A module that fails to import is
reported with its traceback and the rest still load.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from headwater.authoring import RECIPE_SUFFIXES
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.errors import DefinitionError


class LoadError(NamedTuple):
    """Something in the project that could not be loaded."""

    where: str  # module name or recipe file
    message: str  # a traceback, or the problems found

    def __str__(self) -> str:
        return f"{self.where}:\n{self.message}"


@dataclass
class Project:
    """A loaded project: its settings, its pipelines, and what failed to load."""

    settings: Settings
    registry: Registry
    errors: list[LoadError] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.settings.project_dir


def load_project(settings: Settings) -> Project:
    """Import the project's pipelines package and recipes into a fresh registry."""
    project = Project(settings, Registry())
    root = settings.project_dir
    package = settings.pipelines_package
    package_dir = root / package.replace(".", "/")
    if not package_dir.is_dir():
        return project
    _forget_modules(package)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    with use_registry(project.registry):
        for module in _module_names(package, package_dir):
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - report any failure and load the rest
                project.errors.append(LoadError(module, traceback.format_exc()))
        for path in sorted(package_dir.rglob("*")):
            if path.suffix in RECIPE_SUFFIXES and path.is_file():
                from headwater.authoring.recipes import load_recipe

                try:
                    load_recipe(path)
                except DefinitionError as exc:
                    project.errors.append(LoadError(str(path), str(exc)))
    return project


def _module_names(package: str, package_dir: Path) -> list[str]:
    names = [package] if (package_dir / "__init__.py").exists() else []
    for info in pkgutil.walk_packages([str(package_dir)], prefix=package + "."):
        names.append(info.name)
    return names


def _forget_modules(package: str) -> None:
    """Drop already-imported modules of that package name (another project's, or this
    one's from an earlier load) so the import below runs the decorators again."""
    for name in list(sys.modules):
        if name == package or name.startswith(package + "."):
            del sys.modules[name]
    importlib.invalidate_caches()
