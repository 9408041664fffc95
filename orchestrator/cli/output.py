"""Rendering for people (rich) and scripts (``--json``), and the error-to-exit-code handler."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgefleet.core.errors import EdgefleetError

__all__ = ["console", "err_console", "errors_to_exit_codes", "print_json", "table"]


def console() -> Console:
    """A console for this command (made per call: terminal width and streams are read when used)."""
    return Console()


def err_console() -> Console:
    return Console(stderr=True)


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


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    return t


@contextlib.contextmanager
def errors_to_exit_codes() -> Iterator[None]:
    """Print an edgefleet error as one line and exit with its documented code."""
    try:
        yield
    except EdgefleetError as exc:
        err_console().print(
            f"[bold red]error[/] ({exc.code.value}): {escape(exc.message)}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(exc.exit_code) from exc
