"""Authoring: `@task`, `@pipeline`, command tasks, recipes and project discovery.

Everything here compiles to `headwater.domain.spec.PipelineSpec`. May import only
`headwater.domain`, `headwater.errors` and `headwater.config`.
"""
