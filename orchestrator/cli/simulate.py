"""``edgefleet simulate``: N protocol-level agents against a running orchestrator."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

import typer

from edgefleet.orchestrator.cli.common import DEFAULT_SERVER, JsonFlag, ServerOpt, client, credentials
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, print_json, table


def simulate(
    agents: Annotated[int, typer.Option(min=1, max=100_000, help="Simulated agents.")] = 100,
    profiles: Annotated[
        str, typer.Option(help="Comma-separated profiles, assigned round-robin.")
    ] = "rpi4,phone,mcu-gateway",
    token: Annotated[str, typer.Option(help="Enrolment token (default: a new one with enough uses).")] = "",
    duration: Annotated[float, typer.Option(help="Seconds to run after all agents are connected.")] = 30.0,
    window: Annotated[float, typer.Option(help="Seconds between telemetry windows per agent.")] = 5.0,
    deploy: Annotated[
        str, typer.Option(help="Deploy this model once all are connected; time how long it takes.")
    ] = "",
    server: ServerOpt = DEFAULT_SERVER,
    orchestrator: Annotated[
        str, typer.Option(help="The orchestrator's agents' port HOST:PORT (the streams go there).")
    ] = "127.0.0.1:50051",
    json_out: JsonFlag = False,
) -> None:
    """Real streams, enrolment, telemetry, artifact downloads and deploy acks; synthetic figures."""
    from edgefleet.orchestrator.tools.simulate import Endpoints
    from edgefleet.orchestrator.tools.simulate import simulate as run

    with errors_to_exit_codes(), client(server) as api:
        ca_pem, _ = credentials()
        token = token or api.create_token(uses=agents, ttl_seconds=3600)[0]

        async def do_deploy() -> None:
            await asyncio.to_thread(api.deploy, deploy)

        report = asyncio.run(
            run(
                Endpoints(orchestrator, server, ca_pem),
                token,
                agents=agents,
                profiles=tuple(profiles.split(",")),
                duration_s=duration,
                window_s=window,
                deploy=do_deploy if deploy else None,
            )
        )
    if json_out:
        print_json(report.as_dict())
        return
    rows = [
        ("agents", report.agents),
        ("all connected after", f"{report.connected_after_s:.2f} s"),
        (
            "deployment reached all after",
            "-" if math.isnan(report.committed_after_s) else f"{report.committed_after_s:.2f} s",
        ),
        ("telemetry windows sent", report.windows_sent),
        ("artifact bytes downloaded", report.artifacts_bytes),
        ("errors", len(report.errors)),
    ]
    console().print(table("simulation", ["", ""], rows))
