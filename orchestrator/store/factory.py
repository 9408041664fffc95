"""Choose the store by URL: ``sqlite:///PATH`` (embedded, the default) or ``postgresql://USER@HOST/DB``."""

from __future__ import annotations

from edgefleet.orchestrator.store.base import Store
from edgefleet.orchestrator.store.sql import SqlStore

__all__ = ["open_store"]


def open_store(url: str, *, busy_timeout_s: float = 10.0) -> Store:
    """Open (and migrate to the newest schema) the store at ``url``. Both backends are the one SQL store;
    the URL picks the dialect. Errors name the file, or the URL with its password masked."""
    return SqlStore(url, busy_timeout_s=busy_timeout_s)
