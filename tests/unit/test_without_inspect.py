"""What `headwater run` computes without inspect, dataclasses, pkgutil and hashlib (issue 7)
gives the same answers as they do."""

from __future__ import annotations

import collections
import copy
import functools
import hashlib
import inspect
import pickle
import pkgutil
import sys
import typing
import weakref
from pathlib import Path
from typing import Any

import pytest

from headwater.authoring import RECIPE_SUFFIXES, functions
from headwater.authoring.project import _recipe_files, _walk_packages
from headwater.config import Settings
from headwater.context import TaskContext
from headwater.domain.canonical import sha256_of_bytes
from headwater.domain.records import NamedTuple as FastNamedTuple


def plain(a, b: int, /, c, d=1, *, e, f="x"):  # type: ignore[no-untyped-def]
    """First line.

        Indented more.
    Back.
    """


def undocumented(x: int = 2) -> int:
    return x


def one_line() -> None:
    """Leading spaces, trailing ones kept."""


def with_tabs() -> None:
    """Tabs:
    \tone
    \t\ttwo
    """


@functools.wraps(undocumented)
def wrapped(*args: Any, **kwargs: Any) -> Any:
    return undocumented(*args, **kwargs)


def variadic(a, *args, b=1, **kwargs):  # type: ignore[no-untyped-def]
    """Doc."""


class Callable_:
    """A callable object."""

    def __call__(self, x: int, y: int = 3) -> int:
        return x + y

    def method(self) -> None:
        pass


def defaults_set_by_hand(a: int, b: int = 1) -> None:
    pass


defaults_set_by_hand.__defaults__ = (7, 8, 9)  # more than its parameters: inspect takes the last

FUNCTIONS = [
    defaults_set_by_hand,
    plain,
    undocumented,
    one_line,
    with_tabs,
    wrapped,
    variadic,
    Callable_(),
    Callable_().method,
    functools.partial(plain, 1),
    lambda q, r=None: None,
]


def _inspect_parameters(fn: Any) -> list[tuple[str, bool, Any]]:
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [
        (p.name, p.kind in variadic, ... if p.default is p.empty else p.default)
        for p in inspect.signature(fn).parameters.values()
    ]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_functions_answer_as_inspect(fn: Any) -> None:
    assert functions.parameters(fn) == _inspect_parameters(fn)
    assert functions.docstring(fn) == inspect.getdoc(fn)
    if inspect.isfunction(fn) or inspect.ismethod(fn):
        assert functions.source_file(fn) == inspect.getsourcefile(fn)


def simple_hints(
    a: int,
    b: str | None,
    c: list[int],
    d: dict[str, list[int]],
    e: dict[str, None],
    f: None | int,  # noqa: RUF036 - typing keeps the order
    j: Path | list[Path],
    k: dict[str, int | None],
    m: set[Callable_],
    n: type[Callable_] | None = None,
) -> None:
    pass


def other_hints(g: tuple[int, ...], h: Any, i: typing.Generic) -> list[int]:  # type: ignore[valid-type]
    return []


def unknown_name(a: Nonexistent) -> int:  # type: ignore[name-defined]  # noqa: F821
    return 0


@pytest.mark.parametrize(
    "fn", [*FUNCTIONS, simple_hints, other_hints, unknown_name, lambda a, b=1: a, lambda: None]
)
def test_type_hints_are_typings(fn: Any) -> None:
    try:
        expected: Any = typing.get_type_hints(fn, include_extras=True)
    except Exception as error:  # noqa: BLE001 - the same error, then
        with pytest.raises(type(error)):
            functions.type_hints(fn)
        return
    found = functions.type_hints(fn)
    assert found == expected
    assert [type(v) for v in found.values()] == [type(v) for v in expected.values()]
    if fn is simple_hints:
        assert functions._simple_hints(fn) == expected  # not typing's answer, but the same


def test_type_hints_look_names_up_as_evaluating_them_does() -> None:
    namespace: dict[str, Any] = {"list": tuple}
    exec("def f(a: 'list[int]', b: 'int | None') -> 'None': pass", namespace)
    found = functions.type_hints(namespace["f"])
    assert found == typing.get_type_hints(namespace["f"], include_extras=True)
    assert found["a"] == tuple[int]


def test_frozen_records_behave_as_frozen_dataclasses(tmp_path: Path) -> None:
    settings = Settings(project_dir=tmp_path, concurrency=2)
    assert settings == Settings(tmp_path, concurrency=2)
    assert settings != Settings(project_dir=tmp_path)
    assert hash(settings) == hash(Settings(tmp_path, concurrency=2))
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert copy.deepcopy(settings) == settings
    assert settings.with_(concurrency=3).concurrency == 3
    assert repr(settings).startswith(f"Settings(project_dir={str(tmp_path)!r}, database_url=")
    with pytest.raises(AttributeError):
        settings.concurrency = 5  # type: ignore[misc]
    assert weakref.ref(settings)() is settings
    ctx = TaskContext("r", "p", "n", -1, 1, str(tmp_path / "out"), "/a")
    match ctx:
        case TaskContext(run_id, pipeline):
            assert (run_id, pipeline) == ("r", "p")
    assert repr(ctx) == (
        f"TaskContext(run_id='r', pipeline='p', node_id='n', map_index=-1, attempt=1, "
        f"staging_path={str(tmp_path / 'out')!r}, artifact_root='/a')"
    )


@pytest.mark.parametrize("size", [0, 1, 64, 1024 * 1024, 1024 * 1024 + 1])
def test_sha256_of_bytes_is_hashlibs(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert sha256_of_bytes(data) == hashlib.sha256(data).hexdigest()


def test_modules_are_walked_as_pkgutil_walks_them(tmp_path: Path) -> None:
    root = tmp_path / "walked_pkg"
    for folder in ["", "sub", "sub/deeper", "not_a_package", "sub/.hidden"]:
        (root / folder).mkdir(exist_ok=True)
    for name in [
        "__init__.py",
        "a.py",
        "b.pyc",
        "c.txt",
        "sub/__init__.py",
        "sub/x.py",
        "sub/deeper/__init__.py",
        "sub/deeper/y.py",
        "not_a_package/z.py",
    ]:
        (root / name).write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        expected = [i.name for i in pkgutil.walk_packages([str(root)], "walked_pkg.")]
        for name in [n for n in sys.modules if n.startswith("walked_pkg")]:
            del sys.modules[name]
        assert list(_walk_packages([str(root)], "walked_pkg.")) == expected
        assert "walked_pkg.sub.deeper.y" in expected
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("walked_pkg")]:
            del sys.modules[name]


def test_recipe_files_are_the_ones_rglob_finds(tmp_path: Path) -> None:
    for folder in ["sub", "sub/deep.yaml", ".hidden", "elsewhere"]:
        (tmp_path / "pkg" / folder).mkdir(parents=True)
    for name in ["a.yaml", ".yaml", "..yaml", "b.yml.txt", "c.JSON", "sub/d.json", ".hidden/e.yml"]:
        (tmp_path / "pkg" / name).write_text("")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "f.yaml").write_text("")
    (tmp_path / "pkg" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "pkg" / "g.json").symlink_to(tmp_path / "elsewhere" / "f.yaml")
    root = tmp_path / "pkg"
    expected = [p for p in sorted(root.rglob("*")) if p.suffix in RECIPE_SUFFIXES]
    assert _recipe_files(root) == expected
    assert root / "g.json" in expected
    assert root / "..yaml" in expected


class TypingRow(typing.NamedTuple):
    """A row."""

    id: int
    name: str | None
    tags: list[str] = []

    def label(self) -> str:
        return f"{self.id}:{self.name}"


class FastRow(FastNamedTuple):
    """A row."""

    id: int
    name: str | None
    tags: list[str] = []

    def label(self) -> str:
        return f"{self.id}:{self.name}"


def test_named_tuples_are_typings() -> None:
    typed, fast = TypingRow(1, "a"), FastRow(1, "a")
    assert fast == typed == (1, "a", [])
    assert repr(fast) == repr(typed).replace("TypingRow", "FastRow")
    assert FastRow._fields == TypingRow._fields
    assert FastRow._field_defaults == TypingRow._field_defaults
    assert FastRow.__doc__ == TypingRow.__doc__
    assert fast.label() == typed.label() == "1:a"
    assert fast._replace(name="b")._asdict() == {"id": 1, "name": "b", "tags": []}
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert typing.get_type_hints(FastRow) == typing.get_type_hints(TypingRow)
    assert FastRow.__module__ == TypingRow.__module__
    with pytest.raises(TypeError):

        class Wrong(FastNamedTuple):
            a: int = 1
            b: int


def _type_error(cls: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(TypeError) as raised:
        cls(*args, **kwargs)
    return str(raised.value).replace(cls.__name__, "Row")


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1, "a", [], 4), {}), ((1,), {"nope": 2}), ((1,), {"id": 2})],
)
def test_named_tuples_refuse_arguments_as_typings_do(args: Any, kwargs: Any) -> None:
    assert _type_error(FastRow, *args, **kwargs) == _type_error(TypingRow, *args, **kwargs)
    assert FastRow(id=1, name="a", tags=["t"]) == TypingRow(id=1, name="a", tags=["t"])


def test_named_tuple_classes_are_collections_on_this_python() -> None:
    """The same attributes, of the same kinds, as collections.namedtuple makes here (a
    later Python adds some: there records.py leaves the making to collections)."""
    from headwater.domain.records import _namedtuple

    ours = _namedtuple("Pair", ("left", "right"), [2], __name__)
    theirs = collections.namedtuple("Pair", ("left", "right"), defaults=[2], module=__name__)
    assert list(vars(ours)) == list(vars(theirs))
    for key, value in vars(theirs).items():
        assert type(vars(ours)[key]) is type(value), key
    assert ours(1) == theirs(1) == (1, 2)
    assert repr(ours(1)) == repr(theirs(1))
    assert ours(1)._replace(right=3) == (1, 3)


def test_named_tuples_are_made_without_the_compile_builtin(monkeypatch: Any) -> None:
    """Its first call makes the ast module's node classes (~8 M instructions of a run
    whose project is compiled already); evaluating a string does not."""
    import builtins

    from headwater.domain import records

    calls: list[object] = []
    real = builtins.compile

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "_NEW_CODES", {})
    monkeypatch.setattr(builtins, "compile", counted)

    class Triple(FastNamedTuple):
        a: int
        b: int
        c: int = 3

    monkeypatch.undo()  # before asserting: pytest's report of a failure compiles
    assert calls == []
    assert Triple(1, b=2) == (1, 2, 3)
    assert repr(Triple(1, 2)) == "Triple(a=1, b=2, c=3)"


@pytest.mark.parametrize("size", range(1, 15))
def test_named_tuples_of_every_size_take_their_fields_as_collections_do(size: int) -> None:
    """Up to 12 fields `__new__` is written out in records.py; beyond, it is evaluated."""
    from headwater.domain.records import _namedtuple

    fields = tuple(f"f{i}" for i in range(size))
    ours = _namedtuple("Row", fields, [size], __name__)
    theirs = collections.namedtuple("Row", fields, defaults=[size], module=__name__)
    values = {name: index for index, name in enumerate(fields)}
    assert ours(**values) == theirs(**values) == tuple(range(size))
    assert ours(*range(size - 1)) == theirs(*range(size - 1))
    assert ours.__new__.__code__.co_varnames == theirs.__new__.__code__.co_varnames
    assert _type_error(ours, *range(size + 1)) == _type_error(theirs, *range(size + 1))


@pytest.mark.parametrize(
    ("name", "fields"),
    [("Pair", ("class", "y")), ("Pair", ("x", "x")), ("1a", ("x",)), ("Pair", ("a b",))],
)
def test_named_tuple_names_are_checked_as_collections_checks_them(
    name: str, fields: tuple[str, ...]
) -> None:
    from headwater.domain.records import _namedtuple

    with pytest.raises(ValueError) as ours:
        _namedtuple(name, fields, [], __name__)
    with pytest.raises(ValueError) as theirs:
        collections.namedtuple(name, fields)
    assert str(ours.value) == str(theirs.value)
