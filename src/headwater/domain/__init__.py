"""The domain: pipeline specs, states and their transition table, DAG rules, argument
merging, cache keys and retry backoff.

Pure Python with no I/O. May import only the standard library, pydantic, croniter and
`headwater.errors`; every other layer may import it.
"""
