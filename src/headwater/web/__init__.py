"""The web UI: server-rendered pages (jinja2) at /, beside the HTTP API.

Pages read through `headwater.services` (read-only views); the browser code (built from
`ui/` by the Makefile into `static/dist/`) draws graphs and uses the HTTP API for the
live parts: run events, logs, triggering, cancelling. An entry point: it may import
services, store rows and domain types, never the worker.
"""

from headwater.web.app import install

__all__ = ["install"]
