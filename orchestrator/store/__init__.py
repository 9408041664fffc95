"""Persistence behind an interface; SQLite (one file) by default."""

from orchestrator.store.base import Family, Store
from orchestrator.store.sqlite import SqliteStore

__all__ = ["Family", "SqliteStore", "Store"]
