"""Graph layouts computed by browsers, kept by the server for the next viewer.

Laying out a pipeline of thousands of tasks takes the browser a second or more; the
layout of a pipeline version never changes. The first browser to lay a version out
sends its result here, and pages embed it for everyone after, so only the first view
pays. Layouts live in memory (a bounded LRU): losing them costs one layout, nothing
else. A layout is checked to fit the version's graph, so a bad one cannot break pages.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel, Field

LAYOUT_CACHE_ENTRIES = 128


class Layout(BaseModel):
    width: float = Field(ge=0)
    height: float = Field(ge=0)
    nodes: list[tuple[float, float]]  # centre of each node, in the page's node order
    edges: list[list[float]]  # x0, y0, x1, y1, ... of each edge, in the page's edge order


class LayoutCache:
    def __init__(self, entries: int = LAYOUT_CACHE_ENTRIES) -> None:
        self._entries = entries
        self._found: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, version: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._found.get(version)
            if found is not None:
                self._found.move_to_end(version)
            return found

    def put(self, version: str, layout: Layout) -> None:
        with self._lock:
            self._found[version] = layout.model_dump()
            self._found.move_to_end(version)
            while len(self._found) > self._entries:
                self._found.popitem(last=False)


def fits(layout: Layout, graph: dict[str, Any]) -> str | None:
    """Why `layout` does not fit the embedded `graph`, or None when it does."""
    if len(layout.nodes) != len(graph["nodes"]):
        return f"nodes: {len(layout.nodes)} positions for {len(graph['nodes'])} nodes"
    if len(layout.edges) != len(graph["edges"]):
        return f"edges: {len(layout.edges)} paths for {len(graph['edges'])} edges"
    if any(len(points) < 4 or len(points) % 2 for points in layout.edges):
        return "edges: every path needs an even number (at least 4) of coordinates"
    return None
