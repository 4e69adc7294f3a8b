"""The domain: pipeline specs, states and their transition table, DAG rules, argument
merging, cache keys and retry backoff.

Pure Python with no I/O. May import only the standard library, croniter and
`headwater.errors`, and pydantic in `schedule` and `triggers` alone: `headwater run`
imports the rest, and pydantic would be a third of its start-up (the spec's classes
are made by `frozen`). Every other layer may import the domain.
"""
