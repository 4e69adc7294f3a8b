"""Serving a file whole or in part: HTTP byte ranges (RFC 9110 §14), tails of logs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fastapi.responses import Response, StreamingResponse

from headwater.api import problems

CHUNK_BYTES = 1024 * 1024  # a response streams files in pieces of this size
TAIL_BLOCK_BYTES = 64 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")

# Reads bytes [start, end) of the file being served.
Reader = Callable[[int, int], bytes]


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive


class NotSatisfiable(Exception):
    """The range starts past the end of the file."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range asked for, or None to serve the whole file: no header, or one this
    server may ignore (several ranges, other units, malformed), as RFC 9110 allows."""
    match = _RANGE.match(header) if header else None
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # "-N": the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise NotSatisfiable
        return ByteRange(max(0, size - suffix), size)
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None
    if start >= size:
        raise NotSatisfiable
    return ByteRange(start, end)


def tail_start(read: Reader, size: int, lines: int) -> int:
    """Where the last `lines` lines of a file begin (a final newline ends the last line,
    it does not start an empty one)."""
    if lines <= 0:
        return size
    end = size
    if end > 0 and read(end - 1, end) == b"\n":
        end -= 1
    found = 0
    while end > 0:
        start = max(0, end - TAIL_BLOCK_BYTES)
        block = read(start, end)
        at = len(block)
        while (at := block.rfind(b"\n", 0, at)) >= 0:
            found += 1
            if found == lines:
                return start + at + 1
        end = start
    return 0


def _stream(read: Reader, start: int, end: int) -> Iterator[bytes]:
    at = start
    while at < end:
        piece = read(at, min(end, at + CHUNK_BYTES))
        if not piece:  # the file shrank (replaced) while it was served
            return
        at += len(piece)
        yield piece


def serve_bytes(
    read: Reader,
    size: int,
    *,
    range_header: str | None,
    media_type: str,
    start: int = 0,
    headers: dict[str, str] | None = None,
) -> Response:
    """200 with bytes [start, size), or 206 with the range asked for, or 416."""
    base = {"Accept-Ranges": "bytes", **(headers or {})}
    try:
        wanted = parse_range(range_header, size)
    except NotSatisfiable:
        refused = problems.problem(
            416,
            "range-not-satisfiable",
            "Range not satisfiable",
            f"the range {range_header!r} starts past the end ({size} bytes)",
        )
        refused.headers["Content-Range"] = f"bytes */{size}"
        return refused
    if wanted is None:
        return StreamingResponse(
            _stream(read, start, size),
            media_type=media_type,
            headers={**base, "Content-Length": str(size - start)},
        )
    return StreamingResponse(
        _stream(read, wanted.start, wanted.end),
        status_code=206,
        media_type=media_type,
        headers={
            **base,
            "Content-Length": str(wanted.end - wanted.start),
            "Content-Range": f"bytes {wanted.start}-{wanted.end - 1}/{size}",
        },
    )
