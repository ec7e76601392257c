"""Storage: the engine, the tables and the migrations. SQL itself lives in each domain's repository."""

from trova.store.engine import Database, utcnow

__all__ = ["Database", "utcnow"]
