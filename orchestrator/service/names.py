"""Identifier rules shared by every service: names that may become file names or labels."""

from __future__ import annotations

import re

from edgefleet.core.errors import InvalidArgument

__all__ = ["MAX_LABELS", "MAX_SOURCE_NAME", "check_labels", "check_name", "source_name"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
#: Labels a device may carry (rollout and deploy targeting).
MAX_LABELS = 32
#: Characters kept of what a client calls its file (only ever shown in messages).
MAX_SOURCE_NAME = 1024


def check_name(kind: str, value: str) -> str:
    """Lowercase ASCII, digits, '.', '_', '-'; 1-63 characters; no path separators."""
    if not _NAME.match(value or ""):
        shown = value if len(value) <= 80 else value[:80] + "..."
        raise InvalidArgument(
            f"invalid {kind} {shown!r}: use 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return value


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """Label keys follow the name rules; values are at most 63 printable characters."""
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(f"{len(labels)} labels; at most {MAX_LABELS}")
    for key, value in labels.items():
        check_name("label key", key)
        if len(value) > 63:
            raise InvalidArgument(f"label {key!r}: value longer than 63 characters")
        if not value.isprintable():
            raise InvalidArgument(f"label {key!r}: value has non-printable characters")
    return labels


def source_name(given: str, default: str) -> str:
    """What a client calls its file (a path), for messages only: printable characters, at most
    :data:`MAX_SOURCE_NAME` of them; ``default`` when it sent none."""
    shown = "".join(c if c.isprintable() else "?" for c in given[:MAX_SOURCE_NAME])
    return shown or default
