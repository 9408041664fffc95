"""``edgefleet certs``: the orchestrator's certificate authority, server certificate and admin token."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgefleet.orchestrator.cli.common import JsonFlag
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, print_json

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
    from edgefleet.orchestrator.security import default_hosts, init_tls

    hosts = tuple(host or ()) or default_hosts()
    with errors_to_exit_codes():
        written = init_tls(data_dir / "tls", hosts, force=force)
    if json_out:
        print_json({"files": [str(p) for p in written], "hosts": list(hosts)})
        return
    out = console()
    out.print(f"certificate authority and server certificate for {', '.join(hosts)}:", markup=False)
    for path in written:
        out.print(f"  {path}", highlight=False, markup=False)
    out.print(
        f"Give agents {data_dir / 'tls' / 'ca.crt'} (--ca) with their enrolment token; keep ca.key and "
        "admin.token private.",
        highlight=False,
        markup=False,
    )


keys_app = typer.Typer(help="Artifact signing keys: rotate, retire, list (agents learn the set on connect).")
DataDir = Annotated[
    Path, typer.Option(envvar="EDGEFLEET_DATA_DIR", help="The orchestrator's data directory.")
]


@keys_app.command("list")
def keys_list(data_dir: DataDir = Path(".edgefleet"), json_out: JsonFlag = False) -> None:
    """The active signing key and every key agents still trust."""
    from edgefleet.orchestrator.registry.signing import Signer

    with errors_to_exit_codes():
        active = Signer.load_or_create(data_dir / "keys").public.key_id
        keys = [k.key_id for k in Signer.trusted(data_dir / "keys")]
    if json_out:
        print_json({"active": active, "trusted": keys})
        return
    for key in keys:
        console().print(f"{key}{'  (active: signs new bundles)' if key == active else ''}", markup=False)


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = Path(".edgefleet"), json_out: JsonFlag = False) -> None:
    """Make a new active signing key; the old one stays trusted until `keys retire`. New bundles are
    signed with the new key after the orchestrator restarts; agents learn the set when they connect."""
    from edgefleet.orchestrator.registry.signing import Signer

    with errors_to_exit_codes():
        old, new = Signer.rotate(data_dir / "keys")
    if json_out:
        print_json({"old": old.key_id, "new": new.key_id})
    else:
        console().print(
            f"new active key {new.key_id}; {old.key_id} stays trusted until retired", markup=False
        )


@keys_app.command("retire")
def keys_retire(key_id: str, data_dir: DataDir = Path(".edgefleet"), json_out: JsonFlag = False) -> None:
    """Stop trusting an old key (after every device runs a bundle signed by the new one)."""
    from edgefleet.orchestrator.registry.signing import Signer

    with errors_to_exit_codes():
        Signer.retire(data_dir / "keys", key_id)
    if json_out:
        print_json({"retired": key_id})
        return
    console().print(f"retired {key_id}; agents drop it when they next connect", markup=False)
