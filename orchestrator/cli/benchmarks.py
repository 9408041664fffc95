"""``edgefleet benchmark MODEL -p PROFILE`` (measure candidates on canary devices) and ``benchmark show``."""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from edgefleet.core.errors import FailedPrecondition
from edgefleet.orchestrator.cli.common import DEFAULT_SERVER, JsonFlag, ServerOpt, client
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, plural, print_json, table
from edgefleet.orchestrator.cli.render import fmt_bytes, fmt_energy, fmt_seconds, fmt_when
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.client.views import BenchmarkResultView, BenchmarkView

__all__ = ["benchmark_app", "show_benchmark"]


class _RunByDefault(TyperGroup):
    """``edgefleet benchmark MODEL ...`` means ``edgefleet benchmark run MODEL ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.list_commands(ctx) and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


benchmark_app = typer.Typer(
    cls=_RunByDefault,
    help="Measure candidates on canary devices before choosing: edgefleet benchmark MODEL -p PROFILE.",
    no_args_is_help=True,
)


@benchmark_app.command("run")
def run(
    model: Annotated[str, typer.Argument(help="Model family.")],
    profile: Annotated[str, typer.Option("--profile", "-p", help="The device profile to measure on.")],
    top: Annotated[
        int, typer.Option("--top", min=1, max=50, help="The K best by the plan, besides the Pareto front.")
    ] = 3,
    devices: Annotated[int, typer.Option(min=1, max=100, help="Canary devices to measure on.")] = 1,
    rounds: Annotated[
        int, typer.Option(min=1, max=100, help="Interleaved rounds (A, B, C, A, B, C, ...).")
    ] = 5,
    turn: Annotated[float, typer.Option(min=0.1, help="Seconds of one candidate's turn.")] = 2.0,
    deadline: Annotated[
        float, typer.Option(min=1.0, help="The job's time budget on a device, seconds.")
    ] = 300.0,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the results.")] = True,
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Send the candidates worth measuring (the estimate's Pareto front and top K, the float32 base, what
    runs now) to canary devices of the profile; each measures them in a scratch slot, interleaved, with its
    own meter, while it keeps serving. The plan then ranks on these measurements."""
    with errors_to_exit_codes(), client(server) as api:
        job = api.start_benchmark(
            model,
            profile,
            top_k=top,
            devices=devices,
            rounds=rounds,
            turn_seconds=turn,
            deadline_seconds=deadline,
        )
        if not json_out:
            on = ", ".join(d for d, _, _ in job.devices)
            console().print(
                f"benchmark {job.job_id}: {plural(len(job.candidates), 'candidate')} on {on}", highlight=False
            )
        if wait:
            job = _wait(api, job, deadline + 90.0, quiet=json_out)
    show_benchmark(job, json_out)


def _wait(api: AdminClient, job: BenchmarkView, timeout: float, *, quiet: bool) -> BenchmarkView:
    deadline = time.monotonic() + timeout
    shown = ""
    while job.state == "open":
        if time.monotonic() > deadline:
            raise FailedPrecondition(f"benchmark {job.job_id} did not finish in {timeout:.0f} s")
        measured = len({(r.device_id, r.variant_id) for r in job.results})
        line = f"  {measured}/{len(job.candidates) * len(job.devices)} measured"
        if not quiet and line != shown:
            console().print(line, highlight=False)
            shown = line
        time.sleep(1.0)
        job = api.get_benchmark(job.job_id)
    return job


@benchmark_app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(help="A job id; none lists the jobs.")] = "",
    model: Annotated[str, typer.Option(help="Only this model.")] = "",
    profile: Annotated[str, typer.Option("--profile", "-p", help="Only this profile.")] = "",
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """A job's candidates: estimated vs measured on the devices (energy per inference, latency, accuracy)."""
    with errors_to_exit_codes(), client(server) as api:
        if job_id:
            show_benchmark(api.get_benchmark(job_id), json_out)
            return
        jobs = api.list_benchmarks(model, profile)
    if json_out:
        print_json([dataclasses.asdict(j) for j in jobs])
        return
    rows = [
        (j.job_id, j.model, j.profile, j.state, len(j.candidates), fmt_when(j.created), j.reason or "-")
        for j in jobs
    ]
    console().print(
        table(
            plural(len(jobs), "benchmark job"),
            ["job", "model", "profile", "state", "candidates", "started", "reason"],
            rows,
        )
    )


def _pace(measured: list[BenchmarkResultView]) -> str:
    """Inferences per second its turns ran at (the devices' serving rate), or back to back."""
    paces = [r.pace_per_second for r in measured]
    if not paces:
        return "-"
    return f"{sum(paces) / len(paces):.0f}/s" if any(paces) else "back to back"


def rows(job: BenchmarkView) -> list[tuple[Any, ...]]:
    """One row per candidate: estimated vs measured (over the devices that measured it)."""
    out = []
    for c in job.candidates:
        measured = [r for r in job.results if r.variant_id == c.variant_id and not r.error]
        errors = {r.error for r in job.results if r.variant_id == c.variant_id and r.error}
        dyn = [r.dynamic_j for r in measured if r.dynamic_j is not None]
        gross = [r.gross_j for r in measured if r.gross_j is not None]
        scored = sum(r.scored for r in measured)
        out.append(
            (
                f"{c.variant_id[:12]} {c.recipe}",
                c.why,
                f"{fmt_energy(c.estimated_energy_j)} ({c.estimate_kind})",
                fmt_energy(sum(dyn) / len(dyn)) if dyn else "-",
                fmt_energy(sum(gross) / len(gross)) if gross else "-",
                ", ".join(sorted({r.energy_kind for r in measured})) or "-",
                _pace(measured),
                fmt_seconds(max(r.latency_p95_s for r in measured)) if measured else "-",
                f"{sum(r.correct for r in measured) / scored:.2%} of {scored}" if scored else "-",
                fmt_bytes(max(r.peak_rss_bytes for r in measured)) if measured else "-",
                "; ".join(sorted(errors)) or "",
            )
        )
    return out


def show_benchmark(job: BenchmarkView, json_out: bool) -> None:
    if json_out:
        print_json(dataclasses.asdict(job))
        return
    cols = [
        "variant",
        "why",
        "estimated",
        "measured dynamic",
        "gross",
        "kind",
        "pace",
        "p95",
        "accuracy",
        "peak RSS",
        "error",
    ]
    state = job.state + (f", {job.reason}" if job.reason else "")
    title = f"benchmark {job.job_id}: {job.model} on {job.profile} ({state})"
    console().print(table(title, cols, rows(job)))
    devices = [(d, s or "not reported", r or "") for d, s, r in job.devices]
    console().print(table("devices", ["device", "state", "reason"], devices))
