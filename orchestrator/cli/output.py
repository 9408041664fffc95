"""Rendering for people (rich) and scripts (``--json``), and how failures reach the user: one line.

Text that comes from users, devices or files (names, reasons, paths, bytes of a model) is never read as rich
markup or emoji codes: table cells and titles are plain text unless a caller passes a styled ``Text``, and
errors are printed as ``Text``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgefleet.core.cli import error_line, print_error, run_cli
from edgefleet.core.errors import EdgefleetError

__all__ = [
    "console",
    "err_console",
    "error_line",
    "errors_to_exit_codes",
    "plural",
    "print_error",
    "print_json",
    "run_cli",
    "table",
]


def console() -> Console:
    """A console for this command (made per call: terminal width and streams are read when used)."""
    return Console(emoji=False)


def err_console() -> Console:
    return Console(stderr=True, emoji=False)


def plural(n: int, word: str, many: str = "") -> str:
    """``1 event``, ``2 events``, ``0 devices`` (``many``: an irregular plural)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def _strict(data: Any) -> Any:
    """JSON has no NaN or infinity: a figure that is not a number is null."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _strict(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_strict(v) for v in data]
    return data


def print_json(data: Any) -> None:
    text = json.dumps(_strict(data), indent=2, sort_keys=False, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")


def _cell(v: Any) -> Text:
    if isinstance(v, Text):
        return v
    return Text("-" if v is None or v == "" else str(v))


def table(title: str | Text, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A table whose title and cells are plain text (a ``Text`` keeps its style); empty cells show ``-``."""
    heading = Text(title) if isinstance(title, str) else title
    t = Table(title=heading, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(_cell(v) for v in row))
    return t


@contextlib.contextmanager
def errors_to_exit_codes() -> Iterator[None]:
    """Print an edgefleet error as one line and exit with its documented code."""
    try:
        yield
    except EdgefleetError as exc:
        print_error(exc.code.value, exc.message)
        raise typer.Exit(exc.exit_code) from exc
