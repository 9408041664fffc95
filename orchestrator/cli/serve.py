"""``edgefleet serve``: run the orchestrator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes


def serve(
    config: Annotated[Path | None, typer.Option("--config", help="TOML configuration file.")] = None,
    listen: Annotated[
        str | None, typer.Option(help="HOST:PORT to listen on (port 0: any free port).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the store, artifacts and keys live.")] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="The store: sqlite:///PATH (default: DATA_DIR/edgefleet.sqlite) or "
            "postgresql://USER@HOST:PORT/DB (password: in the URL or PGPASSWORD/.pgpass)."
        ),
    ] = None,
    profiles: Annotated[
        list[Path] | None, typer.Option("--profiles", help="User profile file or directory (repeatable).")
    ] = None,
    api_listen: Annotated[
        str | None, typer.Option(help="HOST:PORT for enrolment, the admin API and health (server TLS).")
    ] = None,
    metrics_listen: Annotated[
        str | None,
        typer.Option(
            help='HOST:PORT of the Prometheus /metrics endpoint (port 0: any free port; "": none). '
            "The bound address is printed and written to DATA_DIR/metrics.addr. [default: 127.0.0.1:9464]"
        ),
    ] = None,
    insecure: Annotated[
        bool | None,
        typer.Option("--insecure", help="Plaintext, no client certificates: local development only."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the orchestrator (FleetAdmin for the CLI, health) until SIGTERM or Ctrl-C."""
    import os

    from edgefleet.core.logs import configure_logging
    from edgefleet.orchestrator.config import load_config
    from edgefleet.orchestrator.server.app import OrchestratorServer, run_server

    with errors_to_exit_codes():
        configure_logging(log_level)
        cfg = load_config(
            config,
            env=os.environ,
            overrides={
                "listen": listen,
                "api_listen": api_listen,
                "metrics_listen": metrics_listen,
                "insecure": insecure,
                "data_dir": data_dir,
                "store": store,
                "profiles": [str(p) for p in profiles or []] or None,
            },
        )

        def ready(server: OrchestratorServer) -> None:
            mode = "plaintext, INSECURE" if server.tls is None else "mTLS"
            metrics = (
                f"; metrics on http://{server.metrics_address}/metrics" if server.metrics_address else ""
            )
            console().print(
                f"edgefleet orchestrator listening on {server.address} (agents, {mode}); "
                f"API on {server.api_address} (enrolment, admin){metrics}; data: {cfg.data_dir}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )

        asyncio.run(run_server(cfg, on_ready=ready))
