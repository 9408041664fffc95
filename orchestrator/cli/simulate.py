"""``edgefleet simulate``: N protocol-level agents against a running orchestrator.

Exit code 0 when every agent connected (and, with --deploy, the deployment reached every one); otherwise
the report says how many did not and why, and the exit code is 8 (unavailable)."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

import typer

from edgefleet.core.errors import Unavailable
from edgefleet.orchestrator.cli.common import DEFAULT_SERVER, JsonFlag, ServerOpt, client, credentials
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, print_json, table


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f} s"


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
    processes: Annotated[
        int,
        typer.Option(
            min=0,
            max=256,
            help="Worker processes to spread the agents over, each with its own event loop "
            "(0: all in this process).",
        ),
    ] = 0,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Hard limit in seconds for the whole run; then report and exit.")
    ] = 600.0,
    server: ServerOpt = DEFAULT_SERVER,
    orchestrator: Annotated[
        str,
        typer.Option(
            help="The orchestrator's agents' port HOST:PORT (the streams go there); several replicas "
            "comma-separated: the agents are split evenly between them (all enrol through --server)."
        ),
    ] = "127.0.0.1:50051",
    json_out: JsonFlag = False,
) -> None:
    """Real streams, enrolment, telemetry, artifact downloads and deploy acks; synthetic figures."""
    from edgefleet.orchestrator.tools.simulate import Endpoints
    from edgefleet.orchestrator.tools.simulate import simulate as run

    with errors_to_exit_codes(), client(server) as api:
        ca_pem, _ = credentials()
        # A few spare uses: an enrolment whose reply was lost is retried, as a real agent would.
        token = token or api.create_token(uses=agents + max(10, agents // 20), ttl_seconds=3600)[0]

        async def do_deploy() -> None:
            await asyncio.to_thread(api.deploy, deploy)

        report = asyncio.run(
            run(
                [Endpoints(a.strip(), server, ca_pem) for a in orchestrator.split(",") if a.strip()],
                token,
                agents=agents,
                profiles=tuple(profiles.split(",")),
                duration_s=duration,
                window_s=window,
                deploy=do_deploy if deploy else None,
                processes=processes,
                timeout_s=timeout,
            )
        )
        if json_out:
            print_json(report.as_dict())
        else:
            rows = [
                ("agents", f"{report.agents} in {report.processes or 'this'} process(es)"),
                ("connected", f"{report.connected} of {report.agents}"),
                ("all connected after", _seconds(report.connected_after_s)),
                ("deployment reached", f"{report.reached} of {report.agents}" if deploy else "-"),
                ("deployment reached all after", _seconds(report.committed_after_s)),
                ("reconnects", report.reconnects),
                ("telemetry windows sent / acknowledged", f"{report.windows_sent} / {report.windows_acked}"),
                ("telemetry back-pressure advice kept", report.backpressure_advice),
                ("telemetry windows unanswered at the stop", report.windows_unanswered),
                ("artifact bytes downloaded", report.artifacts_bytes),
                ("run", f"{report.elapsed_s:.1f} s" + (" (timed out)" if report.timed_out else "")),
            ]
            console().print(table("simulation", ["", ""], rows))
            errors = [(f"stream: {k}", v) for k, v in report.stream_errors.items()]
            errors += [(f"enrolment: {k}", v) for k, v in report.enroll_errors.items()]
            errors += [(f"download: {k}", v) for k, v in report.download_errors.items()]
            if errors:
                console().print(
                    table("errors (streams and enrolments are retried)", ["error", "count"], errors[:20])
                )
        if not report.ok:
            raise Unavailable("; ".join(report.failures()) or "the simulation did not complete")
