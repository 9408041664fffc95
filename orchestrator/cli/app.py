"""``edgefleet``: the orchestrator CLI. This module only wires the command groups."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from edgefleet import __version__
from edgefleet.orchestrator.cli import variants
from edgefleet.orchestrator.cli.benchmarks import benchmark_app
from edgefleet.orchestrator.cli.certs import certs_app, keys_app
from edgefleet.orchestrator.cli.devices import deploy, devices_app
from edgefleet.orchestrator.cli.output import (
    console,
    err_console,
    errors_to_exit_codes,
    print_json,
    run_cli,
    table,
)
from edgefleet.orchestrator.cli.plans import plan, profiles_app
from edgefleet.orchestrator.cli.rollouts import events, rollback, rollout_app, unblock
from edgefleet.orchestrator.cli.serve import serve
from edgefleet.orchestrator.cli.simulate import simulate
from edgefleet.orchestrator.cli.telemetry import telemetry

app = typer.Typer(
    name="edgefleet",
    help="Build, select, deploy and watch compressed ML models on fleets of edge devices.",
    no_args_is_help=True,
    add_completion=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

app.add_typer(variants.app, name="variants")
app.add_typer(profiles_app, name="profiles")
app.command("plan")(plan)
app.add_typer(benchmark_app, name="benchmark")
app.add_typer(devices_app, name="devices")
app.add_typer(certs_app, name="certs")
app.add_typer(keys_app, name="keys")
app.command("deploy")(deploy)
app.command("telemetry")(telemetry)
app.add_typer(rollout_app, name="rollout")
app.command("rollback")(rollback)
app.command("unblock")(unblock)
app.command("events")(events)
app.command("simulate")(simulate)


app.command("serve")(serve)


@app.command()
def version(json_out: JsonFlag = False) -> None:
    """Print the edgefleet version and the inference runtime found here."""
    from edgefleet.agent.runtime import runtime_info

    with errors_to_exit_codes():
        info = {"edgefleet": __version__, "runtime": str(runtime_info("litert"))}
    if json_out:
        print_json(info)
    else:
        console().print(f"edgefleet {info['edgefleet']} (runtime: {info['runtime']})", markup=False)


@app.command()
def demo(
    short: Annotated[bool, typer.Option(help="Shorter windows and bake times (tests, CI).")] = False,
    keep: Annotated[bool, typer.Option(help="Leave the orchestrator and agents running afterwards.")] = False,
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its state and logs.")] = Path(
        ".edgefleet-demo"
    ),
    json_out: JsonFlag = False,
) -> None:
    """The main job: an orchestrator and three agents, variants built and planned, a rollout in waves
    with live telemetry, then a tightened energy budget rolled back automatically."""
    from edgefleet.orchestrator.tools.demo import DemoSettings, run_demo

    with errors_to_exit_codes():
        # with --json, people's output goes to stderr and stdout stays machine-readable
        result = run_demo(
            DemoSettings(workdir=workdir, short=short, keep=keep), err_console() if json_out else console()
        )
    if json_out:
        print_json(result)


@app.command()
def reference(
    threads: Annotated[int, typer.Option(min=1, help="Interpreter threads.")] = 1,
    json_out: JsonFlag = False,
) -> None:
    """Real inference of each reference model through the runtime wrapper, on LiteRT and TFLite Micro."""
    from edgefleet.orchestrator.tools.reference import run_reference_models

    with errors_to_exit_codes(), console().status("running the reference models"):
        runs = run_reference_models(threads=threads)
    if json_out:
        print_json([dataclasses.asdict(r) for r in runs])
        return
    rows = [
        (
            r.model,
            r.runtime,
            f"{r.accuracy:.2%} of {r.samples}",
            f"{r.recorded_accuracy:.2%}",
            f"{r.latency_p50_s * 1e6:.0f} µs",
            f"{r.latency_p95_s * 1e6:.0f} µs",
        )
        for r in runs
    ]
    console().print(
        table(
            f"reference family 'digits': accuracy on the evaluation split, latency ({threads} thread)",
            ["model", "runtime", "accuracy", "recorded", "p50", "p95"],
            rows,
        )
    )


def main() -> None:
    run_cli(app, "edgefleet")
