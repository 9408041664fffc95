"""Identifier rules shared by every service: names that may become file names or labels."""

from __future__ import annotations

import re

from edgefleet.core.errors import InvalidArgument

__all__ = ["check_name"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def check_name(kind: str, value: str) -> str:
    """Lowercase ASCII, digits, '.', '_', '-'; 1-63 characters; no path separators."""
    if not _NAME.match(value or ""):
        shown = value if len(value) <= 80 else value[:80] + "..."
        raise InvalidArgument(
            f"invalid {kind} {shown!r}: use 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return value
