"""Tests for canonical JSON (RFC 8785) and the cache key built on it."""

from __future__ import annotations

import enum
import hashlib
import json
import math
import random
import struct
from collections import OrderedDict
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.domain import canonical
from headwater.domain.canonical import cache_key, canonical_bytes, canonical_json, sha256_hex

# --- strategies ------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers() | finite_floats | st.text()


def _json_values(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> Any:
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5)
            | st.lists(children, max_size=5).map(tuple)
            | st.dictionaries(keys, children, max_size=5)
        ),
        max_leaves=25,
    )


json_values = _json_values(json_scalars, st.text())

# Values json.dumps can encode in JCS form: keys below U+E000, floats json spells the ES way.
fast_floats = st.floats(min_value=1e-4, max_value=1e15).filter(lambda f: not f.is_integer())
fast_values = _json_values(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | fast_floats
    | fast_floats.map(lambda f: -f),
    st.text(st.characters(max_codepoint=0xDFFF, exclude_categories=["Cs"])),
)


def _same(original: object, loaded: object) -> bool:
    """JSON equality after a round trip: floats may come back as equal ints, tuples as lists.

    An integral float is written as an integer (ES style), and ES rounds it to its shortest
    digits, so compare it after converting back to float.
    """
    if isinstance(original, bool) or original is None:
        return original is loaded
    if isinstance(original, float):
        return isinstance(loaded, int | float) and float(loaded) == original
    if isinstance(original, int):
        return type(loaded) is int and loaded == original
    if isinstance(original, str):
        return loaded == original
    if isinstance(original, list | tuple):
        return (
            isinstance(loaded, list)
            and len(loaded) == len(original)
            and all(_same(a, b) for a, b in zip(original, loaded, strict=True))
        )
    assert isinstance(original, dict)
    return (
        isinstance(loaded, dict)
        and loaded.keys() == original.keys()
        and all(_same(original[k], loaded[k]) for k in original)
    )


def _reorder(value: object, rng: random.Random) -> object:
    """The same JSON value with every dict rebuilt in a shuffled insertion order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _reorder(v, rng) for k, v in items}
    if isinstance(value, list | tuple):
        return type(value)(_reorder(v, rng) for v in value)
    return value


def _double(bits: str) -> float:
    return float(struct.unpack(">d", bytes.fromhex(bits))[0])


# --- RFC 8785 vectors ------------------------------------------------------------------

# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical spelling.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    assert canonical_json(_double(bits)) == expected
    assert canonical_json([_double(bits)]) == f"[{expected}]"


@pytest.mark.parametrize(
    ("bits", "name"), [("7fffffffffffffff", "NaN"), ("7ff0000000000000", "inf")]
)
def test_rfc8785_appendix_b_non_finite_rejected(bits: str, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^\$: {name} is not a JSON number"):
        canonical_json(_double(bits))


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (2.5, "2.5"),
        (-2.0, "-2"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (0.00001, "0.00001"),
        (0.0001, "0.0001"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e16, "10000000000000000"),
        (1.5e300, "1.5e+300"),
        (-1e-300, "-1e-300"),
        (0.1, "0.1"),
    ],
)
def test_numbers_follow_ecmascript(number: float, expected: str) -> None:
    assert canonical_json(number) == expected


# RFC 8785 section 3.2.4 and the sample files of the reference implementation
# (github.com/cyberphone/json-canonicalization, testdata/): (input JSON, canonical output).
RFC_DOCUMENTS = [
    (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}',
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    ),
    (
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet",'
        ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis"}',
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet"}',
    ),
    (
        '{"\\u20ac": "Euro Sign", "1": "One", "\\u0080": "Control\\u007f",'
        ' "\\ud83d\\ude02": "Smiley", "\\u00f6": "Latin Small Letter O With Diaeresis",'
        ' "\\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge"}',
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f602":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    ),
    (
        '{"1": {"f": {"f": "hi", "F": 5}, "\\n": 56.0}, "10": {}, "": "empty", "a": {},'
        ' "111": [{}], "A": {}}',
        '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}',
    ),
    (
        '{"peach": "This sorting order", "p\u00e9ch\u00e9": "is wrong according to French",'
        ' "p\u00eache": "but canonicalization MUST", "sin": "ignore locale"}',
        '{"peach":"This sorting order","p\u00e9ch\u00e9":"is wrong according to French",'
        '"p\u00eache":"but canonicalization MUST","sin":"ignore locale"}',
    ),
    ('{"Unnormalized Unicode": "\\u1e0d\\u0307"}', '{"Unnormalized Unicode":"\u1e0d\u0307"}'),
    ('[56, {"d": true, "10": null, "1": []}]', '[56,{"1":[],"10":null,"d":true}]'),
]


@pytest.mark.parametrize(("source", "expected"), RFC_DOCUMENTS)
def test_rfc8785_documents(source: str, expected: str) -> None:
    assert canonical_json(json.loads(source)) == expected


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # By code point U+FB33 < U+1F600; in UTF-16 the emoji is D83D DE00, which sorts first.
    # Both characters are at or above U+E000, so this exercises the careful encoder.
    assert canonical_json({"\ufb33": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb33":1}'
    assert canonical_json({"\U0001f600": 2, "\ufb33": 1}) == '{"\U0001f600":2,"\ufb33":1}'


def test_nested_keys_sorted_at_every_level() -> None:
    value = {"b": [{"z": 1, "y": {"d": 0, "c": 0}}], "a": ()}
    assert canonical_json(value) == '{"a":[],"b":[{"y":{"c":0,"d":0},"z":1}]}'


# --- strings ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", range(0x20))
def test_control_characters_use_jcs_escapes(code: int) -> None:
    short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
    escaped = short.get(code, f"\\u{code:04x}")
    expected = f'"{escaped}"'
    assert canonical_json(chr(code)) == expected  # fast path
    assert canonical_json([chr(code), 1.0]) == f"[{expected},1]"  # careful encoder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"', '"\\""'),
        ("\\", '"\\\\"'),
        ("/", '"/"'),
        ("\x7f", '"\x7f"'),
        ("\u2028\u2029", '"\u2028\u2029"'),
        ("\u00e9\u20ac\U0001f600", '"\u00e9\u20ac\U0001f600"'),
        ("\ufeff", '"\ufeff"'),
    ],
)
def test_strings_escape_only_what_jcs_requires(text: str, expected: str) -> None:
    assert canonical_json(text) == expected
    assert canonical_json({text: 1.0}) == "{" + expected + ":1}"


def test_unpaired_surrogate_rejected_with_path() -> None:
    with pytest.raises(ValueError, match=r"^\$\.a\[1\]: .*U\+D800"):
        canonical_json({"a": ["ok", "x\ud800"]})
    with pytest.raises(ValueError, match=r"^\$\.a: .*U\+DC00"):
        canonical_json({"a": {"\udc00": 1}})


# --- numbers and other scalars ---------------------------------------------------------


def test_python_ints_stay_exact_beyond_double_precision() -> None:
    assert canonical_json(2**53 + 1) == "9007199254740993"
    assert canonical_json([-(2**70)]) == "[-1180591620717411303424]"


def test_int_beyond_interpreter_digit_limit_rejected_with_path() -> None:
    with pytest.raises(ValueError, match=r"^\$\.k\[0\]: "):
        canonical_json({"k": [10**5000]})


def test_literals_and_tuples() -> None:
    assert canonical_json([None, True, False, 0, (1, (2,))]) == "[null,true,false,0,[1,[2]]]"


def test_subclasses_serialise_as_their_base_values() -> None:
    class Colour(enum.IntEnum):
        RED = 3

    class Name(str):
        def __str__(self) -> str:
            return "not used"

    value = OrderedDict([("b", Colour.RED), ("a", Name("x"))])
    assert canonical_json(value) == '{"a":"x","b":3}'


# --- errors name the path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": [0, 1, {"b": math.nan}]}, r"\$\.a\[2\]\.b"),
        ([math.inf], r"\$\[0\]"),
        ({"x y": {"k": -math.inf}}, r'\$\["x y"\]\.k'),
        (math.nan, r"\$"),
    ],
)
def test_non_finite_numbers_rejected_with_path(value: object, path: str) -> None:
    with pytest.raises(ValueError, match=rf"^{path}: .*(NaN|inf)"):
        canonical_json(value)


def test_non_str_key_rejected_with_path() -> None:
    with pytest.raises(TypeError, match=r"^\$\.a\[0\]: object key 1 has type int"):
        canonical_json({"a": [{1: "x"}]})
    with pytest.raises(TypeError, match=r"^\$: object key None has type NoneType"):
        canonical_json({None: 1})


@pytest.mark.parametrize(
    ("value", "path", "type_name"),
    [
        ({"a": [0, 1, {"b": {1, 2}}]}, r"\$\.a\[2\]\.b", "set"),
        ([b"bytes"], r"\$\[0\]", "bytes"),
        ({"m": MappingProxyType({})}, r"\$\.m", "mappingproxy"),
        (object(), r"\$", "object"),
    ],
)
def test_unsupported_types_rejected_with_path_and_type(
    value: object, path: str, type_name: str
) -> None:
    with pytest.raises(TypeError, match=rf"^{path}: .*\b{type_name}\b"):
        canonical_json(value)


def test_circular_reference_rejected_with_path() -> None:
    loop: dict[str, object] = {}
    loop["self"] = [loop]
    with pytest.raises(ValueError, match=r"^\$\.self\[0\]: circular reference"):
        canonical_json(loop)


def test_shared_but_acyclic_containers_are_fine() -> None:
    shared = [1, 2.0]
    assert canonical_json({"a": shared, "b": shared}) == '{"a":[1,2],"b":[1,2]}'


def test_deep_nesting_beyond_fast_path_limit() -> None:
    deep: object = "leaf"
    for _ in range(canonical._FAST_PATH_MAX_DEPTH + 5):
        deep = {"k": [deep]}
    expected = (
        '{"k":[' * (canonical._FAST_PATH_MAX_DEPTH + 5)
        + '"leaf"'
        + "]}" * (canonical._FAST_PATH_MAX_DEPTH + 5)
    )
    assert canonical_json(deep) == expected


class _Level(enum.IntEnum):
    LOW = 1


# --- fast path -------------------------------------------------------------------------


def test_fast_path_taken_for_plain_values(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(value: object) -> str:
        raise AssertionError("careful encoder used")

    monkeypatch.setattr(canonical, "_encode_careful", fail)
    value = {"name": "x\u00e9", "n": [1, True, None, 0.25], "\u00fc": {"t": ("a",)}}
    assert canonical_json(value) == '{"n":[1,true,null,0.25],"name":"x\u00e9","\u00fc":{"t":["a"]}}'


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1e-5},
        [1e16],
        {"\ue000": 1},
        {"\U0001f600": 1},
        {"k": {1: 2}},
        {"k": OrderedDict()},
        [True, _Level.LOW],
        {"k": "\ud800"},
        {"k": 10**5000},
    ],
)
def test_fast_path_refused_when_json_dumps_could_differ(value: object) -> None:
    form = canonical._fast_form(value, 0)
    assert form is canonical._CAREFUL or canonical._dumps(form) is None


@given(fast_values)
def test_fast_path_equals_careful_encoder(value: object) -> None:
    assert canonical._fast_form(value, 0) is value  # nothing to copy
    assert canonical._dumps(value) == canonical._encode_careful(value)


@given(json_values)
def test_both_paths_agree_wherever_fast_path_applies(value: object) -> None:
    careful = canonical._encode_careful(value)
    assert canonical_json(value) == careful
    form = canonical._fast_form(value, 0)
    if form is not canonical._CAREFUL:
        assert canonical._dumps(form) == careful


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        -0.0,
        2.0**53 - 1,
        -(2.0**53) + 1,
        {"backoff": {"base": 1.0, "factor": 2.5}},
        [3.0, [4.0]],
    ],
)
def test_integral_floats_take_the_fast_path_as_ints(value: object) -> None:
    """A pipeline's backoff (1.0, 2.0, 300.0) no longer sends its spec down the careful
    encoder: JCS spells an integral float as the int, and so does json once it is one."""
    form = canonical._fast_form(value, 0)
    assert form is not canonical._CAREFUL
    assert canonical._dumps(form) == canonical._encode_careful(value)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(float.is_integer))
def test_every_integral_float_is_spelled_as_the_careful_encoder_spells_it(number: float) -> None:
    assert canonical_json(number) == canonical._encode_careful(number)
    assert canonical_json({"k": [number]}) == canonical._encode_careful({"k": [number]})


# --- properties ------------------------------------------------------------------------


@given(json_values)
def test_round_trip(value: object) -> None:
    assert _same(value, json.loads(canonical_json(value)))


@given(finite_floats)
def test_float_round_trip_is_exact(number: float) -> None:
    text = canonical_json(number)
    assert float(text) == number
    assert not text.endswith(".0")
    assert "e" not in text or not text.split("e")[1].lstrip("+-").startswith("0")


@given(json_values)
def test_idempotent(value: object) -> None:
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


@given(json_values, st.randoms(use_true_random=False))
def test_key_order_independent(value: object, rng: random.Random) -> None:
    assert canonical_json(_reorder(value, rng)) == canonical_json(value)


@given(st.dictionaries(st.text(), st.integers(), min_size=2), st.randoms(use_true_random=False))
def test_key_order_independent_flat(value: dict[str, int], rng: random.Random) -> None:
    reordered = _reorder(value, rng)
    reversed_dict = dict(reversed(list(value.items())))
    assert canonical_json(reordered) == canonical_json(reversed_dict) == canonical_json(value)


# --- bytes and hashes ------------------------------------------------------------------


def test_canonical_bytes_are_utf8() -> None:
    assert canonical_bytes({"\u20ac": "\U0001f600"}) == b'{"\xe2\x82\xac":"\xf0\x9f\x98\x80"}'


def test_sha256_hex_hashes_canonical_bytes() -> None:
    expected = hashlib.sha256(b'{"a":1,"b":[2.5,"x"]}').hexdigest()
    assert sha256_hex({"b": [2.5, "x"], "a": 1.0}) == expected


# --- cache keys ------------------------------------------------------------------------

BASE_KEY_INPUTS: dict[str, Any] = {
    "task_name": "extract",
    "task_version": "1",
    "arguments": {"limit": 10, "path": "s3://b/k"},
    "upstream_keys": {"source": "ab" * 32},
}


def test_cache_key_pinned_envelope() -> None:
    envelope = (
        '{"args":{"limit":10,"path":"s3://b/k"},"task":"extract",'
        '"upstream":{"source":"' + "ab" * 32 + '"},"version":"1"}'
    )
    assert cache_key(**BASE_KEY_INPUTS) == hashlib.sha256(envelope.encode()).hexdigest()


@pytest.mark.parametrize(
    ("field", "changed"),
    [
        ("task_name", "extract2"),
        ("task_version", "2"),
        ("arguments", {"limit": 11, "path": "s3://b/k"}),
        ("arguments", {"limit": 10, "path": "s3://b/k", "extra": None}),
        ("upstream_keys", {"source": "cd" * 32}),
        ("upstream_keys", {"other": "ab" * 32}),
        ("upstream_keys", {}),
    ],
)
def test_cache_key_changes_with_each_input(field: str, changed: object) -> None:
    assert cache_key(**{**BASE_KEY_INPUTS, field: changed}) != cache_key(**BASE_KEY_INPUTS)


def test_cache_key_ignores_insertion_order_and_mapping_type() -> None:
    reordered: dict[str, Any] = {
        "task_name": "extract",
        "task_version": "1",
        "arguments": MappingProxyType({"path": "s3://b/k", "limit": 10}),
        "upstream_keys": OrderedDict([("source", "ab" * 32)]),
    }
    assert cache_key(**reordered) == cache_key(**BASE_KEY_INPUTS)


def test_cache_key_does_not_confuse_arguments_with_upstream() -> None:
    swapped = {
        **BASE_KEY_INPUTS,
        "arguments": BASE_KEY_INPUTS["upstream_keys"],
        "upstream_keys": BASE_KEY_INPUTS["arguments"],
    }
    assert cache_key(**swapped) != cache_key(**BASE_KEY_INPUTS)


def test_cache_key_error_names_argument_path() -> None:
    with pytest.raises(ValueError, match=r"^\$\.args\.threshold: NaN"):
        cache_key("t", "1", {"threshold": math.nan}, {})
