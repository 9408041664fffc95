"""Process logging for the command lines: edgefleet's loggers at the level asked for, other libraries'
at WARNING (ai-edge-quantizer, for one, logs ``INFO root: Serializing model...`` once per variant it builds)
unless the level asked for is DEBUG."""

from __future__ import annotations

import logging

from edgefleet.core.errors import InvalidArgument

__all__ = ["LOG_FORMAT", "configure_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def configure_logging(level: str) -> None:
    """Log to stderr: ``edgefleet.*`` at ``level``; the root logger (third parties) at WARNING or above."""
    chosen = _LEVELS.get(level.strip().lower())
    if chosen is None:
        raise InvalidArgument(f"--log-level: expected debug, info, warning, error or critical, got {level!r}")
    third_party = chosen if chosen == logging.DEBUG else max(chosen, logging.WARNING)
    logging.basicConfig(level=third_party, format=LOG_FORMAT)
    logging.getLogger("edgefleet").setLevel(chosen)
