"""Services: the use cases (register pipelines, start and cancel runs, claim work,
record results). Each owns its transaction. May import `headwater.store`,
`headwater.artifacts`, `headwater.domain`, `headwater.errors` and `headwater.config`.
"""
