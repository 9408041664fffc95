"""Options shared by the CLI commands, and how the CLI finds its credentials.

The admin client talks TLS to the orchestrator's API port and sends the admin token. Both come from,
in order: EDGEFLEET_CA / EDGEFLEET_ADMIN_TOKEN (a file path, or the token itself), then the files
`edgefleet certs init` wrote under EDGEFLEET_DATA_DIR (default ``.edgefleet``): ``tls/ca.crt`` and
``tls/admin.token``. EDGEFLEET_INSECURE=1 talks plaintext to an ``--insecure`` orchestrator.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from edgefleet.core.errors import FailedPrecondition, InvalidArgument
from edgefleet.orchestrator.client import DEFAULT_SERVER, AdminClient

__all__ = [
    "DEFAULT_SERVER",
    "ForceFlag",
    "JsonFlag",
    "LabelOpt",
    "ProfilesOpt",
    "ServerOpt",
    "client",
    "credentials",
    "parse_labels",
]

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
LabelOpt = Annotated[
    list[str],
    typer.Option(
        "--label", "-l", help="KEY=VALUE: only devices carrying this label (repeatable; all must match)."
    ),
]
ProfilesOpt = Annotated[
    list[str],
    typer.Option("--profile", "-p", help="Only this profile (repeatable); default: all."),
]
ForceFlag = Annotated[
    bool, typer.Option("--force", help="Use a named variant even where the plan rejects it (recorded).")
]
ServerOpt = Annotated[
    str,
    typer.Option("--server", envvar="EDGEFLEET_SERVER", help="Orchestrator API address HOST:PORT."),
]


def _token(tls_dir: Path) -> str:
    given = os.environ.get("EDGEFLEET_ADMIN_TOKEN", "")
    if given and Path(given).is_file():
        return Path(given).read_text().strip()
    if given:
        return given
    path = tls_dir / "admin.token"
    return path.read_text().strip() if path.is_file() else ""


def credentials() -> tuple[bytes | None, str]:
    """(CA certificate PEM, or None for plaintext; admin token) as the module docstring says."""
    tls_dir = Path(os.environ.get("EDGEFLEET_DATA_DIR", ".edgefleet")) / "tls"
    token = _token(tls_dir)
    if os.environ.get("EDGEFLEET_INSECURE", "").lower() in ("1", "true", "yes"):
        return None, token
    ca = Path(os.environ.get("EDGEFLEET_CA", "") or tls_dir / "ca.crt")
    if not ca.is_file():
        raise FailedPrecondition(
            f"no CA certificate at {ca}: set EDGEFLEET_CA (or EDGEFLEET_DATA_DIR to the orchestrator's data "
            f"directory), or EDGEFLEET_INSECURE=1 for an --insecure development orchestrator"
        )
    return ca.read_bytes(), token


def client(server: str = DEFAULT_SERVER) -> AdminClient:
    ca_pem, token = credentials()
    return AdminClient(server, ca_pem=ca_pem, token=token)


def parse_labels(pairs: list[str], option: str = "--label") -> dict[str, str]:
    """``KEY=VALUE`` pairs (the server checks the label rules)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{option} expects KEY=VALUE, got {pair!r}")
        out[key] = value
    return out
