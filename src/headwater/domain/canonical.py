"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and the hashes built on it.

Cache keys and content hashes must come out byte-identical for equal values, however a
dict was built, whichever Python version computed them, and whichever language
re-computes them later. ``json.dumps`` leaves several choices open (key order, how
numbers are spelled, which characters are escaped); RFC 8785 pins every one of them, so
any other JCS implementation reproduces our bytes and therefore our keys.

One deliberate departure: JCS models every number as an IEEE 754 double, so an integer
above 2**53 would lose precision there. Python ints are emitted exactly, as plain
integers of any size, because silently rounding a task argument would make two
different runs share a cache key. For ints and floats inside the double-safe range the
output is exactly JCS; the float ``1.0`` and the int ``1`` both serialise as ``1``,
just as they would in ECMAScript.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["cache_key", "canonical_bytes", "canonical_json", "sha256_hex", "sha256_of_bytes"]


def _find_builtin_sha256() -> Callable[[bytes], Any] | None:
    # CPython's built-in SHA-256 (3.11: _sha256, 3.12+: _sha2), which hashlib falls back
    # to itself: importing hashlib loads OpenSSL (~3-5 ms of every start-up). The digests
    # are the same; OpenSSL's is faster only on large inputs (see sha256_of_bytes).
    for module in ("_sha256", "_sha2"):
        try:
            found: Callable[[bytes], Any] = importlib.import_module(module).sha256
        except (ImportError, AttributeError):
            continue
        return found
    return None  # a build without them: hashlib


_builtin_sha256 = _find_builtin_sha256()

# Above this many bytes, hashlib's SHA-256 (OpenSSL: hardware instructions where the CPU
# has them) pays for its import.
_BUILTIN_SHA256_MAX_BYTES = 1024 * 1024

# Containers nested deeper than this skip the json.dumps fast path. Bounding the depth
# lets the fast-path check stop on self-referencing containers instead of recursing
# forever, and guarantees json.dumps may run without its own circular-reference check.
_FAST_PATH_MAX_DEPTH = 64
_EXACT_INTEGERS = 2.0**53  # every integral float below this is exactly an int

# JCS escapes exactly these: the quote, the backslash, and the C0 controls, using the
# two-character forms where JSON has them and lowercase \u00xx otherwise.
_ESCAPES: dict[str, str] = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
for _code in range(0x20):
    _ESCAPES.setdefault(chr(_code), f"\\u{_code:04x}")
del _code

# Types whose json.dumps spelling is always the JCS spelling (exact types, not subclasses).
_PLAIN_SCALARS: frozenset[type] = frozenset({str, int, bool, type(None)})


class _PathError(Exception):
    """A failure deep in the careful encoder, collecting its JSON path on the way out.

    Formatting a path for every node visited would tax the successful case; instead each
    container frame appends its own segment while the exception unwinds, and only the
    top level joins them. Frames that do not fail pay nothing (zero-cost ``try``).
    """

    def __init__(self, error: type[TypeError] | type[ValueError], message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.segments: list[str] = []

    def public(self) -> TypeError | ValueError:
        """The exception callers see: the requested type, path first, then the reason."""
        path = "$" + "".join(reversed(self.segments))
        return self.error(f"{path}: {self.message}")


def canonical_json(value: object) -> str:
    """Serialise ``value`` as RFC 8785 canonical JSON.

    Accepts dict (str keys only), list, tuple, str, int, float, bool and None, nested
    freely. Raises TypeError for anything else and ValueError for NaN, infinities,
    strings with unpaired surrogates and circular references; every message starts with
    the JSON path of the offending value (``$.a[2].b``) so a user can find it.

    Runs on every task run, so values that ``json.dumps`` provably spells the JCS way
    take that C-accelerated route; everything else goes through the careful encoder.
    """
    form = _fast_form(value, 0)
    if form is not _CAREFUL:
        text = _dumps(form)
        if text is not None:
            return text
    return _encode_careful(value)


def canonical_bytes(value: object) -> bytes:
    """The UTF-8 bytes of :func:`canonical_json`, which is what JCS hashes and signs."""
    return canonical_json(value).encode("utf-8")


def sha256_hex(value: object) -> str:
    """Hex SHA-256 of the canonical bytes: a content hash equal for equal JSON values."""
    return sha256_of_bytes(canonical_bytes(value))


def sha256_of_bytes(data: bytes) -> str:
    """Hex SHA-256 of `data`, without importing hashlib for small inputs."""
    new: Callable[[bytes], Any] | None = _builtin_sha256
    if new is None or len(data) > _BUILTIN_SHA256_MAX_BYTES:
        import hashlib

        new = hashlib.sha256
    return str(new(data).hexdigest())


def cache_key(
    task_name: str,
    task_version: str,
    arguments: Mapping[str, object],
    upstream_keys: Mapping[str, object],
) -> str:
    """The identity of one task run: equal keys mean the stored output can be reused.

    Arguments bound to upstream outputs are represented by the upstream task runs' cache
    keys in ``upstream_keys``, never by their values, so the key is computed from lineage
    rather than from possibly large output values, and a change anywhere upstream
    changes every key downstream of it. ``task_version`` lets an author invalidate old
    results when the code changes meaning. Dict insertion order never matters.
    """
    return sha256_hex(
        {
            "task": task_name,
            "version": task_version,
            "args": dict(arguments),
            "upstream": dict(upstream_keys),
        }
    )


# --- fast path -------------------------------------------------------------------------


_CAREFUL = object()  # _fast_form's answer for a value only the careful encoder may spell


def _fast_form(value: Any, depth: int) -> Any:
    """``value`` in a form that ``json.dumps`` provably spells the JCS way: the value
    itself, a copy of it with integral floats as ints (``2.0`` is ``2`` in JCS, ``2.0`` to
    json), or _CAREFUL.

    One cheap walk, exact types only (subclasses may override ``__repr__``/``__str__``);
    nothing is copied unless an integral float is found. Why each admitted case is safe:

    * str: with ``ensure_ascii=False`` json escapes exactly ``"``, ``\\`` and the C0
      controls, the latter as lowercase ``\\u00xx`` except the short forms, and passes
      DEL, U+2028 and U+2029 through untouched, which is exactly JCS.
    * int and bool: both spell them as ``int.__repr__`` and ``true``/``false``.
    * dict keys: ``sort_keys`` orders by code point, which equals JCS's UTF-16 code-unit
      order unless a key holds a character at or above U+E000 (those sort after the
      surrogate pairs that encode astral characters in UTF-16 but before them by code
      point). ASCII keys are recognised in O(1).
    * float: see :func:`_float_spelled_alike`; an integral one below 2**53 in magnitude
      is exactly an int, which ECMAScript spells as that int's digits (below 1e21).

    Unpaired surrogates are not checked here; :func:`_dumps` rejects them on the output.
    """
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind is float:
        if _float_spelled_alike(value):
            return value
        if value.is_integer() and abs(value) < _EXACT_INTEGERS:
            return int(value)
        return _CAREFUL
    if depth >= _FAST_PATH_MAX_DEPTH:
        return _CAREFUL
    if kind is dict:
        pairs: Any = value.items()
    elif kind is list or kind is tuple:
        pairs = enumerate(value)
    else:
        return _CAREFUL
    copied: Any = None
    # Scalars are tested inline to save a call per element; an explicit loop because
    # all() over a generator measured ~40% slower here.
    for key, item in pairs:
        if kind is dict and (type(key) is not str or not (key.isascii() or max(key) < "\ue000")):
            return _CAREFUL
        if type(item) in _PLAIN_SCALARS:
            continue
        form = _fast_form(item, depth + 1)
        if form is _CAREFUL:
            return _CAREFUL
        if form is not item:
            if copied is None:
                copied = dict(value) if kind is dict else list(value)
            copied[key] = form
    return value if copied is None else copied


def _float_spelled_alike(number: float) -> bool:
    """Whether ``float.__repr__`` already spells ``number`` as ECMAScript would.

    Both use the shortest round-trip digits. They agree on layout for non-integral values
    with 1e-4 <= |x| < 1e16, where both use plain positional notation: repr switches to
    an exponent below 1e-4 (ES only below 1e-6), and repr writes ``2.0`` where ES writes
    ``2``. Non-integral doubles are all below 2**52, so the upper bound only excludes
    infinities; comparisons with NaN are false, which excludes NaN.
    """
    return 1e-4 <= abs(number) < 1e16 and not number.is_integer()


def _dumps(value: object) -> str | None:
    """``json.dumps`` in JCS layout, or None when the careful encoder must decide.

    Returns None for strings with unpaired surrogates (not valid Unicode, so JCS rejects
    them) and for ValueErrors such as ints beyond the interpreter's digit limit; the
    careful encoder then raises with the offending value's path.
    """
    try:
        text = json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            check_circular=False,
        )
    except ValueError:
        return None
    if text.isascii() or _surrogate_at(text) is None:
        return text
    return None


def _surrogate_at(text: str) -> int | None:
    """Where `text` has its first unpaired surrogate (the only code points UTF-8 cannot
    encode), or None; without a regular expression to compile at import."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None


# --- careful encoder -------------------------------------------------------------------


def _encode_careful(value: object) -> str:
    """The reference JCS encoder, used whenever the fast path cannot be proven equal."""
    out: list[str] = []
    try:
        _encode(value, out, set())
    except _PathError as error:
        raise error.public() from None
    return "".join(out)


def _encode(value: object, out: list[str], active: set[int]) -> None:
    """Append the JCS text of ``value`` to ``out``; ``active`` holds the open containers.

    Uses isinstance so that subclasses (IntEnum, StrEnum, OrderedDict) serialise as the
    JSON value they stand for; bool is tested before int because it is an int.
    """
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int):
        out.append(_format_int(value))
    elif isinstance(value, float):
        out.append(_format_float(value))
    elif isinstance(value, dict):
        _encode_object(value, out, active)
    elif isinstance(value, list | tuple):
        _encode_array(value, out, active)
    else:
        kind = type(value)
        raise _PathError(
            TypeError,
            f"cannot encode a value of type {kind.__module__}.{kind.__qualname__} as JSON "
            "(expected dict, list, tuple, str, int, float, bool or None)",
        )


def _encode_object(obj: dict[object, object], out: list[str], active: set[int]) -> None:
    """Members sorted by the UTF-16 code units of their keys, as JCS requires."""
    entries: list[tuple[str, str, object]] = []
    ascii_keys = True
    for key, item in obj.items():
        if not isinstance(key, str):
            raise _PathError(
                TypeError,
                f"object key {key!r} has type {type(key).__qualname__}; JSON keys must be str",
            )
        quoted = _quote(key)  # rejects unpaired surrogates before they reach the codec
        ascii_keys = ascii_keys and key.isascii()
        entries.append((key, quoted, item))
    # ASCII strings sort as their UTF-16 code units do (and need no codec).
    entries.sort(key=_first if ascii_keys else _utf16_first)
    marker = _enter(obj, active)
    try:
        out.append("{")
        for index, (_, quoted, item) in enumerate(entries):
            if index:
                out.append(",")
            out.append(quoted)
            out.append(":")
            try:
                _encode(item, out, active)
            except _PathError as error:
                error.segments.append(_key_segment(quoted))
                raise
        out.append("}")
    finally:
        active.discard(marker)


def _encode_array(
    items: list[object] | tuple[object, ...], out: list[str], active: set[int]
) -> None:
    """Elements in their given order; JCS never reorders arrays."""
    marker = _enter(items, active)
    try:
        out.append("[")
        for index, item in enumerate(items):
            if index:
                out.append(",")
            try:
                _encode(item, out, active)
            except _PathError as error:
                error.segments.append(f"[{index}]")
                raise
        out.append("]")
    finally:
        active.discard(marker)


def _first(entry: tuple[str, str, object]) -> str:
    """Sort on the key alone: keys are unique, and items may not be comparable."""
    return entry[0]


def _utf16_first(entry: tuple[str, str, object]) -> bytes:
    """Sort on the key's UTF-16 code units (JCS), which order some characters above
    U+FFFF before some below, unlike str comparison."""
    return entry[0].encode("utf-16-be")


def _enter(container: object, active: set[int]) -> int:
    """Mark ``container`` open, refusing one that is already open (a cycle)."""
    marker = id(container)
    if marker in active:
        raise _PathError(ValueError, "circular reference: a container contains itself")
    active.add(marker)
    return marker


def _key_segment(quoted: str) -> str:
    """Path segment for a member: ``.name`` when that reads unambiguously, else ``["…"]``."""
    name = quoted[1:-1]
    return f".{name}" if name.isidentifier() else f"[{quoted}]"


def _quote(text: str) -> str:
    """A JSON string literal with only the escapes JCS allows; other characters verbatim."""
    if not text.isascii():
        found = _surrogate_at(text)
        if found is not None:
            raise _PathError(
                ValueError,
                f"string contains the unpaired surrogate U+{ord(text[found]):04X} at index "
                f"{found}, which is not valid Unicode and cannot be encoded as UTF-8",
            )
    return '"' + _needs_escape().sub(_escape, text) + '"'


@functools.cache
def _needs_escape() -> re.Pattern[str]:
    # Compiled on first use: only the careful encoder escapes by hand.
    return re.compile(r'[\x00-\x1f"\\]')


def _escape(match: re.Match[str]) -> str:
    return _ESCAPES[match.group()]


def _format_int(number: int) -> str:
    """Exact decimal digits, whatever the size (see the module docstring)."""
    try:
        return int.__repr__(number)
    except ValueError as error:  # beyond sys.get_int_max_str_digits()
        raise _PathError(ValueError, str(error)) from None


def _format_float(number: float) -> str:
    """ECMAScript ``Number.prototype.toString`` for a finite double (ECMA-262 Number::toString).

    The digits come from ``repr``, which yields the shortest string that round-trips and,
    among those, the one closest to the value, as ES requires; only the layout differs.
    """
    if math.isnan(number):
        raise _PathError(ValueError, "NaN is not a JSON number (RFC 8785 allows finite only)")
    if math.isinf(number):
        raise _PathError(ValueError, f"{number} is not a JSON number (RFC 8785 allows finite only)")
    if number == 0:
        return "0"  # covers -0.0, which ES also prints as "0"
    sign = "-" if number < 0 else ""
    mantissa, _, exponent = float.__repr__(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = whole + fraction
    digits = all_digits.lstrip("0")
    # The value is 0.<digits> * 10**point (ES calls point "n" and len(digits) "k").
    point = len(whole) - (len(all_digits) - len(digits)) + int(exponent or "0")
    digits = digits.rstrip("0")
    return sign + _layout(digits, point)


def _layout(digits: str, point: int) -> str:
    """Place the decimal point or exponent exactly as ECMA-262 Number::toString does."""
    count = len(digits)
    if count <= point <= 21:
        return digits + "0" * (point - count)
    if 0 < point <= 21:
        return f"{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    power = point - 1
    head = digits if count == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{head}e{'+' if power >= 0 else '-'}{abs(power)}"
