"""Fan-out/fan-in: split a text into chunks, count words per chunk in parallel, merge.

headwater run -C examples word_count -p top=5
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from headwater import pipeline, task


@task
def split_text(source: str, lines_per_chunk: int = 10) -> list[str]:
    """Split the text file into chunks of `lines_per_chunk` lines."""
    lines = Path(source).read_text(encoding="utf-8").splitlines()
    return [
        "\n".join(lines[i : i + lines_per_chunk]) for i in range(0, len(lines), lines_per_chunk)
    ]


@task
def count_words(chunk: str) -> dict[str, int]:
    """Count the words of one chunk (lower-cased)."""
    return dict(Counter(re.findall(r"[a-z']+", chunk.lower())))


@task
def merge_counts(counts: list[dict[str, int]], top: int = 10) -> list[tuple[str, int]]:
    """Add the chunks' counts and keep the `top` most common words."""
    total: Counter[str] = Counter()
    for part in counts:
        total.update(part)
    return total.most_common(top)


@pipeline
def word_count(source: str = "data/rivers.txt", top: int = 10):
    """The most common words of a text, counted chunk by chunk in parallel."""
    chunks = split_text(source)
    return merge_counts(count_words.map(chunks), top=top)
