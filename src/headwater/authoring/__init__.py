"""Authoring: `@task`, `@pipeline`, command tasks, recipes and project discovery.

Everything here compiles to `headwater.domain.spec.PipelineSpec`. May import only
`headwater.domain`, `headwater.errors` and `headwater.config`.
"""

# Recipe files by suffix; here rather than in `recipes` so that finding none (the usual
# project) does not import the recipe models.
RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
