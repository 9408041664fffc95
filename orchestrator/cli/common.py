"""Options shared by the CLI commands."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.client import DEFAULT_SERVER, AdminClient

__all__ = ["JsonFlag", "ServerOpt", "client"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ServerOpt = Annotated[
    str,
    typer.Option("--server", envvar="EDGEFLEET_SERVER", help="Orchestrator address HOST:PORT."),
]


def client(server: str = DEFAULT_SERVER) -> AdminClient:
    return AdminClient(server)
