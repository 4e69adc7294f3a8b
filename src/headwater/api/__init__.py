"""The HTTP API (FastAPI, under /api/v1) and its problem+json errors. An entry point:
may import services and everything below; never the worker or the CLI."""
