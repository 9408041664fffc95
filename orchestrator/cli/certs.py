"""``edgefleet certs``: the orchestrator's certificate authority, server certificate and admin token."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.common import JsonFlag
from orchestrator.cli.output import console, errors_to_exit_codes, print_json

certs_app = typer.Typer(help="Device identity: the CA that signs device certificates (mTLS).")


@certs_app.command("init")
def init(
    data_dir: Annotated[
        Path, typer.Option(envvar="EDGEFLEET_DATA_DIR", help="The orchestrator's data directory.")
    ] = Path(".edgefleet"),
    host: Annotated[
        list[str] | None,
        typer.Option("--host", help="Name or address agents dial (repeatable; default: this host)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace an existing CA (every device must enrol again).")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Create the CA, the orchestrator's certificate and the admin token under DATA_DIR/tls."""
    from orchestrator.security import default_hosts, init_tls

    hosts = tuple(host or ()) or default_hosts()
    with errors_to_exit_codes():
        written = init_tls(data_dir / "tls", hosts, force=force)
    if json_out:
        print_json({"files": [str(p) for p in written], "hosts": list(hosts)})
        return
    console().print(f"certificate authority and server certificate for {', '.join(hosts)}:", highlight=False)
    for path in written:
        console().print(f"  {path}", highlight=False)
    console().print(
        f"Give agents {data_dir / 'tls' / 'ca.crt'} (--ca) with their enrolment token; keep ca.key and "
        "admin.token private.",
        highlight=False,
    )
