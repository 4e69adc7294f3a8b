"""Signed artifact links and HTTP byte ranges: the pure parts of the API."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from headwater.api.ranges import ByteRange, NotSatisfiable, parse_range, tail_start
from headwater.api.signing import BadSignature, LinkExpired, load_secret, sign, verify
from headwater.config import Settings

SECRET = b"k" * 32


def test_a_link_verifies_until_it_expires() -> None:
    signature = sign(SECRET, "7/output.json", 1000)
    verify(SECRET, "7/output.json", 1000, signature, now=999)
    with pytest.raises(LinkExpired):
        verify(SECRET, "7/output.json", 1000, signature, now=1000)


@pytest.mark.parametrize(
    ("path", "expires", "secret"),
    [
        ("7/params.json", 1000, SECRET),  # another file
        ("8/output.json", 1000, SECRET),  # another task run
        ("7/output.json", 2000, SECRET),  # a later expiry
        ("7/output.json", 1000, b"other secret"),  # another server
    ],
)
def test_a_changed_link_is_refused(path: str, expires: int, secret: bytes) -> None:
    signature = sign(SECRET, "7/output.json", 1000)
    with pytest.raises(BadSignature):
        verify(secret, path, expires, signature, now=0)


def test_an_expired_forgery_is_reported_as_a_forgery() -> None:
    with pytest.raises(BadSignature):
        verify(SECRET, "7/output.json", 1000, "0" * 64, now=5000)
    with pytest.raises(BadSignature):
        verify(SECRET, "7/output.json", 1000, "é" * 64, now=0)


def test_the_secret_is_generated_once_private_and_kept(tmp_path: Path) -> None:
    settings = Settings(project_dir=tmp_path)
    first = load_secret(settings)
    assert len(first) == 64
    assert load_secret(settings) == first
    kept = tmp_path / ".headwater" / "api-secret"
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert [p.name for p in kept.parent.iterdir()] == ["api-secret"]
    assert load_secret(Settings(project_dir=tmp_path, api_secret="configured")) == b"configured"
    assert load_secret(None) != load_secret(None)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-3", ByteRange(0, 4)),
        ("bytes=5-", ByteRange(5, 10)),
        ("bytes=-3", ByteRange(7, 10)),
        ("bytes=-30", ByteRange(0, 10)),
        ("bytes=8-100", ByteRange(8, 10)),
        (None, None),
        ("bytes=0-1,4-5", None),  # several ranges: served whole
        ("items=0-3", None),
        ("bytes=5-2", None),
        ("bytes=-", None),
    ],
)
def test_ranges(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 10) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=11-20", "bytes=-0"])
def test_ranges_past_the_end_are_not_satisfiable(header: str) -> None:
    with pytest.raises(NotSatisfiable):
        parse_range(header, 10)


@pytest.mark.parametrize(
    ("text", "lines", "expected"),
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"a\nb\nc\n", 5, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 0, b""),
        (b"", 3, b""),
        (b"\n\n", 1, b"\n"),
        (b"x" * 100_000 + b"\nlast\n", 1, b"last\n"),
        (b"x\n" * 50_000, 40_000, b"x\n" * 40_000),
    ],
)
def test_tail_finds_where_the_last_lines_begin(text: bytes, lines: int, expected: bytes) -> None:
    start = tail_start(lambda a, b: text[a:b], len(text), lines)
    assert text[start:] == expected
