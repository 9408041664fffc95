"""Persistence behind an interface; SQLite (one file) by default."""

from edgefleet.orchestrator.store.base import Family, Store
from edgefleet.orchestrator.store.sqlite import SqliteStore

__all__ = ["Family", "SqliteStore", "Store"]
