"""Persistence behind one contract, chosen by URL: SQLite (one file, the default) or PostgreSQL."""

from edgefleet.orchestrator.store.base import Family, Store
from edgefleet.orchestrator.store.engine import mask_url
from edgefleet.orchestrator.store.factory import open_store
from edgefleet.orchestrator.store.results import (
    HourlyWindows,
    Lease,
    Presence,
    RejectedWindow,
    StoredWindows,
    VariantTotals,
)
from edgefleet.orchestrator.store.sql import SqlStore
from edgefleet.orchestrator.store.sqlite import SqliteStore

__all__ = [
    "Family",
    "HourlyWindows",
    "Lease",
    "Presence",
    "RejectedWindow",
    "SqlStore",
    "SqliteStore",
    "Store",
    "StoredWindows",
    "VariantTotals",
    "mask_url",
    "open_store",
]
