"""The store: SQLAlchemy tables, migrations and every query.

The only package that knows SQL or its dialects; driver errors never leave it. May
import `headwater.domain`, `headwater.errors` and `headwater.config`.
"""
