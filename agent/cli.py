"""``edgefleet-agent``: the device daemon's command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgefleet import __version__
from edgefleet.core.errors import EdgefleetError, InvalidArgument

app = typer.Typer(
    name="edgefleet-agent",
    help="edgefleet device agent: installs model variants safely, runs inference, reports measurements.",
    no_args_is_help=True,
    add_completion=False,
)

RuntimeOpt = Annotated[str, typer.Option("--runtime", help="'litert' or 'tflite-micro'.")]
#: Set by ``main`` (a process of its own): ``run`` then continues in the lean daemon entry point
#: (edgefleet.agent.daemon) instead of this process, which has typer and what it imported loaded.
_PROCESS = {"lean_run": False}


def _fail(exc: EdgefleetError) -> typer.Exit:
    typer.echo(f"error ({exc.code.value}): {exc.message}", err=True)
    return typer.Exit(exc.exit_code)


@app.command()
def runtime(
    kind: RuntimeOpt = "litert",
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show which inference runtime this device has."""
    from edgefleet.agent.runtime import runtime_info

    try:
        info = runtime_info("tflite-micro" if kind == "tflite-micro" else "litert")
    except EdgefleetError as exc:
        raise _fail(exc) from exc
    if json_out:
        typer.echo(json.dumps({"name": info.name, "version": info.version, "agent": __version__}))
    else:
        typer.echo(f"{info.name} {info.version} (edgefleet-agent {__version__})")


@app.command()
def check(
    model: Annotated[Path, typer.Argument(help=".tflite model file")],
    eval_set: Annotated[Path | None, typer.Option("--eval", help="Labelled samples (.npz: x, y)")] = None,
    kind: RuntimeOpt = "litert",
    threads: Annotated[int, typer.Option(min=1)] = 1,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load a model on this device, time it and (with --eval) measure its accuracy."""
    import numpy as np

    from edgefleet.agent.runtime import load_model
    from edgefleet.agent.runtime.measure import measure_accuracy, measure_latency
    from edgefleet.core.evalset import check_classifier, load_eval_set

    try:
        loaded = load_model(
            model, runtime="tflite-micro" if kind == "tflite-micro" else "litert", threads=threads
        )
        samples = load_eval_set(eval_set) if eval_set else None
        if samples is not None:
            check_classifier(loaded.output.sample_shape, samples, model=str(model))
        sample = samples.x[0] if samples else np.zeros(loaded.input.sample_shape, dtype=np.float32)
        lat = measure_latency(loaded, sample, threads=threads)
        acc = measure_accuracy(loaded, samples.x, samples.y) if samples else None
    except EdgefleetError as exc:
        raise _fail(exc) from exc
    result = {
        "model": str(model),
        "runtime": {"name": loaded.runtime.name, "version": loaded.runtime.version},
        "input": {"shape": list(loaded.input.shape), "dtype": loaded.input.dtype},
        "latency_p50_seconds": lat.p50,
        "latency_p95_seconds": lat.p95,
        "threads": threads,
        "accuracy": acc.value if acc else None,
        "samples": acc.total if acc else 0,
    }
    if json_out:
        typer.echo(json.dumps(result))
        return
    line = f"{model.name}: {loaded.runtime}, p50 {lat.p50 * 1e6:.0f} µs, p95 {lat.p95 * 1e6:.0f} µs"
    if acc:
        line += f", accuracy {acc.value:.2%} ({acc.correct}/{acc.total})"
    typer.echo(line)


@app.command()
def run(
    orchestrator: Annotated[
        str | None,
        typer.Option(help="Orchestrator agents' port HOST:PORT (mTLS); replicas: HOST:PORT,HOST:PORT,..."),
    ] = None,
    enroll_address: Annotated[
        str | None,
        typer.Option(
            help="Orchestrator API port HOST:PORT for enrolment (server TLS); replicas: comma-separated."
        ),
    ] = None,
    ca: Annotated[Path | None, typer.Option("--ca", help="The orchestrator's CA certificate (PEM).")] = None,
    insecure: Annotated[
        bool | None, typer.Option("--insecure", help="Plaintext and a bearer secret: development only.")
    ] = None,
    profile: Annotated[str | None, typer.Option(help="Device profile (e.g. rpi4).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Identity, slots, downloads and outbox.")] = None,
    token: Annotated[str | None, typer.Option(help="One-time enrolment token (first start only).")] = None,
    name: Annotated[str | None, typer.Option(help="Device name (default: hostname).")] = None,
    predict_listen: Annotated[
        str | None, typer.Option(help="Inference API: 127.0.0.1:PORT or unix:PATH.")
    ] = None,
    local_socket: Annotated[
        Path | None,
        typer.Option(help="Fast local Predict: framed protobuf on this unix socket (see local_client)."),
    ] = None,
    replay: Annotated[str | None, typer.Option(help="Replay workload: inferences/s, or 'max'.")] = None,
    threads: Annotated[int | None, typer.Option(help="Interpreter threads.")] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="KEY=VALUE sent at enrolment for rollout targeting (repeatable)."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML file with an [agent] table.")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the device daemon: enrol once, keep one stream to the orchestrator, serve the active variant."""
    import os

    from edgefleet.agent.config import load_agent_config
    from edgefleet.core.logs import configure_logging

    try:
        configure_logging(log_level)
        rate = None if replay is None else (float("inf") if replay == "max" else float(replay))
        overrides = {
            "orchestrator": orchestrator,
            "enroll_address": enroll_address,
            "ca_file": ca,
            "insecure": insecure,
            "profile": profile,
            "data_dir": data_dir,
            "token": token,
            "name": name,
            "predict_listen": predict_listen,
            "local_socket": local_socket,
            "replay_rate": rate,
            "threads": threads,
            "labels": label or None,
        }
        cfg = load_agent_config(config, env=os.environ, overrides=overrides)
        if not cfg.profile:
            raise InvalidArgument("--profile is required (e.g. rpi4, phone, mcu-gateway)")
    except ValueError as exc:
        raise _fail(InvalidArgument(f"--replay: expected a rate or 'max' ({exc})")) from exc
    except EdgefleetError as exc:
        raise _fail(exc) from exc
    if _PROCESS["lean_run"]:
        from edgefleet.agent.daemon import exec_daemon

        exec_daemon(config, overrides, log_level)
    from edgefleet.agent.daemon import run_agent

    try:
        run_agent(cfg)
    except EdgefleetError as exc:
        raise _fail(exc) from exc


def main() -> None:
    from edgefleet.core.cli import run_cli

    _PROCESS["lean_run"] = True
    run_cli(app, "edgefleet-agent")
