"""Projects found from code (Datanectar): a folder with a `pipelines/` package.

Every module under `pipelines/` is imported and every recipe file (.yaml, .yml, .json)
under it is loaded, with no registration code. A module that fails to import is
reported with its traceback and the rest still load.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from headwater.authoring import RECIPE_SUFFIXES
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.domain.records import NamedTuple
from headwater.errors import DefinitionError

if TYPE_CHECKING:
    from pathlib import Path


class LoadError(NamedTuple):
    """Something in the project that could not be loaded."""

    where: str  # module name or recipe file
    message: str  # a traceback, or the problems found

    def __str__(self) -> str:
        return f"{self.where}:\n{self.message}"


class Project:
    """A loaded project: its settings, its pipelines, and what failed to load."""

    __slots__ = ("errors", "registry", "settings")

    def __init__(
        self, settings: Settings, registry: Registry, errors: list[LoadError] | None = None
    ) -> None:
        self.settings, self.registry = settings, registry
        self.errors = [] if errors is None else errors

    @property
    def root(self) -> str:
        return self.settings.project_dir


def load_project(settings: Settings) -> Project:
    """Import the project's pipelines package and recipes into a fresh registry."""
    project = Project(settings, Registry())
    root = settings.project_dir
    package = settings.pipelines_package
    package_dir = os.path.join(root, *package.split("."))
    if not os.path.isdir(package_dir):
        return project
    _forget_modules(package)
    if root not in sys.path:
        sys.path.insert(0, root)
    with use_registry(project.registry):
        for module in _module_names(package, package_dir):
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - report any failure and load the rest
                import traceback

                project.errors.append(LoadError(module, traceback.format_exc()))
        for path in _recipe_files(package_dir):
            if path.is_file():
                from headwater.authoring.recipes import load_recipe

                try:
                    load_recipe(path)
                except DefinitionError as exc:
                    project.errors.append(LoadError(str(path), str(exc)))
    return project


def _recipe_files(package_dir: str) -> list[Path]:
    """The recipe files under `package_dir`, sorted, as `sorted(Path(package_dir).rglob("*"))`
    filtered by suffix would give them (folders reached through a symbolic link are not
    entered) without the pattern pathlib compiles for "*" and its selectors."""
    found = []
    for folder, folders, files in os.walk(package_dir):
        for name in (*folders, *files):
            if name.endswith(RECIPE_SUFFIXES):
                from pathlib import Path  # only a project with recipe files loads it

                if (path := Path(folder, name)).suffix:
                    found.append(path)
    return sorted(found)


def _module_names(package: str, package_dir: str) -> list[str]:
    names = [package] if os.path.exists(os.path.join(package_dir, "__init__.py")) else []
    names.extend(_walk_packages([package_dir], package + "."))
    return names


def _walk_packages(path: list[str], prefix: str) -> Iterator[str]:
    """The names `pkgutil.walk_packages(path, prefix)` gives (importing each package on
    the way, as it does). Folders are listed here, as pkgutil's finder for folders lists
    them, without the import of inspect it makes for that (~10 ms of `headwater run`);
    anything else on a path is left to pkgutil."""
    seen: set[str] = set()
    for name, ispkg in _iter_modules(path, prefix):
        yield name
        if ispkg:
            try:
                __import__(name)
            except ImportError:
                continue
            inner = []
            for item in getattr(sys.modules[name], "__path__", None) or []:
                if item not in seen:  # a path item seen before is not walked again
                    seen.add(item)
                    inner.append(item)
            yield from _walk_packages(inner, name + ".")


def _iter_modules(path: list[str], prefix: str) -> Iterator[tuple[str, bool]]:
    yielded: set[str] = set()
    for item in path:
        if os.path.isdir(item):
            found = _folder_modules(item, prefix)
        else:
            import pkgutil

            found = ((info.name, info.ispkg) for info in pkgutil.iter_modules([item], prefix))
        for name, ispkg in found:
            if name not in yielded:
                yielded.add(name)
                yield name, ispkg


def _folder_modules(folder: str, prefix: str) -> Iterator[tuple[str, bool]]:
    # pkgutil's _iter_file_finder_modules (Python 3.11 to 3.13).
    yielded: set[str] = set()
    try:
        filenames = sorted(os.listdir(folder))  # packages before same-named modules
    except OSError:
        filenames = []
    for filename in filenames:
        modname = _module_name(filename)
        if modname == "__init__" or modname in yielded:
            continue
        ispkg = False
        full = os.path.join(folder, filename)
        if not modname and os.path.isdir(full) and "." not in filename:
            modname = filename
            try:
                contents = os.listdir(full)
            except OSError:
                contents = []
            if not any(_module_name(name) == "__init__" for name in contents):
                continue  # not a package
            ispkg = True
        if modname and "." not in modname:
            yielded.add(modname)
            yield prefix + modname, ispkg


def _module_name(filename: str) -> str | None:
    # inspect.getmodulename
    suffixes = sorted(importlib.machinery.all_suffixes(), key=len, reverse=True)
    for suffix in suffixes:
        if filename.endswith(suffix):
            return filename[: -len(suffix)]
    return None


def _forget_modules(package: str) -> None:
    """Drop already-imported modules of that package name (another project's, or this
    one's from an earlier load) so the import below runs the decorators again."""
    for name in list(sys.modules):
        if name == package or name.startswith(package + "."):
            del sys.modules[name]
    importlib.invalidate_caches()
