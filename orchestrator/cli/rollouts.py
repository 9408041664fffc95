"""``edgefleet rollout ...``, ``edgefleet rollback``, ``edgefleet unblock`` and ``edgefleet events``."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.text import Text

from edgefleet.core.errors import InvalidArgument
from edgefleet.orchestrator.cli.common import (
    DEFAULT_SERVER,
    ForceFlag,
    JsonFlag,
    LabelOpt,
    ServerOpt,
    client,
    parse_labels,
)
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, plural, print_json, table
from edgefleet.orchestrator.cli.render import fmt_energy, fmt_when
from edgefleet.orchestrator.cli.statistics import fmt_statistics
from edgefleet.orchestrator.client.views import RolloutDeviceView, RolloutView
from edgefleet.orchestrator.rollout.model import Event

rollout_app = typer.Typer(help="Roll a model out in waves, with automatic rollback.", no_args_is_help=True)


def rollout_dict(r: RolloutView) -> dict[str, Any]:
    return dataclasses.asdict(r)


def _show(r: RolloutView) -> None:
    out = console()
    out.print(
        Text.assemble(
            f"rollout {r.rollout_id} ({r.model}): ",
            (r.state, "bold"),
            f" at wave {r.wave}/{r.waves_total}" + (f" — {r.state_reason}" if r.state_reason else ""),
        ),
        highlight=False,
    )
    for profile, job_id in sorted(r.benchmark_jobs.items()):
        out.print(
            f"  {profile}: candidates measured first by benchmark job {job_id} "
            f"(edgefleet benchmark show {job_id})",
            highlight=False,
        )
    rows = [(d.wave, d.device_id, d.state, fmt_when(d.since), _saving(d), d.reason) for d in r.devices]
    out.print(table("devices", ["wave", "device", "state", "since", "saving vs incumbent", "reason"], rows))


def _saving(d: RolloutDeviceView) -> str:
    if d.saving is None or d.incumbent_j is None or d.candidate_j is None:
        return "-"
    interval = f" [{d.saving_lower:.0%}, {d.saving_upper:.0%}]" if d.saving_lower is not None else ""
    return f"{d.saving:.0%}{interval} ({fmt_energy(d.candidate_j)} vs {fmt_energy(d.incumbent_j)})"


def _parse_variants(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        profile, sep, vid = pair.partition("=")
        if not sep or not profile or not vid:
            raise InvalidArgument(f"--variant expects PROFILE=VARIANT_ID, got {pair!r}")
        out[profile] = vid
    return out


@rollout_app.command("start")
def start(
    model: Annotated[str, typer.Argument()],
    profile: Annotated[list[str], typer.Option("--profile", "-p")] = [],  # noqa: B006
    device: Annotated[list[str], typer.Option("--device", "-d")] = [],  # noqa: B006
    variant: Annotated[
        list[str], typer.Option(help="PROFILE=VARIANT_ID to force (default: the plan's choice).")
    ] = [],  # noqa: B006
    waves: Annotated[
        str, typer.Option(help="Cumulative wave fractions, 0 = one canary (e.g. 0,0.25,1).")
    ] = "",
    bake: Annotated[float | None, typer.Option(help="Seconds each wave bakes before promotion.")] = None,
    max_energy: Annotated[
        float | None, typer.Option(help="Energy budget per inference, J (default: the profile's).")
    ] = None,
    accuracy_floor: Annotated[
        float | None, typer.Option(help="Accuracy floor (default: the profile's).")
    ] = None,
    max_latency: Annotated[
        float | None, typer.Option(help="p95 latency budget, s (default: the profile's).")
    ] = None,
    max_failing_share: Annotated[float | None, typer.Option(help="Share of a wave that may fail.")] = None,
    require_saving: Annotated[
        bool | None,
        typer.Option(
            "--require-saving/--no-require-saving",
            help="Each device must show a saving against what it ran before (default: with min-energy).",
        ),
    ] = None,
    min_saving: Annotated[
        float | None, typer.Option(min=0.0, max=0.99, help="Least saving worth deploying (default 0.05).")
    ] = None,
    pause_after: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="Pause a wave without a verdict this many seconds after its bake (default 600)."
        ),
    ] = None,
    label: LabelOpt = [],  # noqa: B006
    force: ForceFlag = False,
    benchmark: Annotated[
        bool,
        typer.Option(
            "--benchmark/--no-benchmark",
            help="Measure the candidates on canary devices first and choose on those measurements "
            "(energy objective, profiles without --variant).",
        ),
    ] = True,
    benchmark_devices: Annotated[
        int, typer.Option(min=0, max=100, help="Canary devices per profile for that (0: up to 3).")
    ] = 0,
    benchmark_rounds: Annotated[
        int, typer.Option(min=0, max=100, help="Interleaved rounds of that benchmark (0: 5).")
    ] = 0,
    benchmark_turn: Annotated[
        float, typer.Option(min=0, max=600, help="Seconds of one candidate's turn in it (0: 2).")
    ] = 0.0,
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Start a rollout; it supersedes an active one on the same devices."""
    policy: dict[str, Any] = {}
    with errors_to_exit_codes():
        if waves:
            try:
                policy["waves"] = [float(w) for w in waves.split(",")]
            except ValueError as exc:
                raise InvalidArgument(f"--waves expects numbers like 0,0.25,1, got {waves!r}") from exc
        for key, value in (
            ("bake_seconds", bake),
            ("max_energy_joules", max_energy),
            ("accuracy_floor", accuracy_floor),
            ("max_latency_p95_seconds", max_latency),
            ("max_failing_share", max_failing_share),
            ("require_saving", require_saving),
            ("min_saving", min_saving),
            ("pause_after_seconds", pause_after),
        ):
            if value is not None:
                policy[key] = value
        with client(server) as api:
            r = api.start_rollout(
                model,
                profiles=tuple(profile),
                device_ids=tuple(device),
                policy=policy,
                variants=_parse_variants(variant),
                labels=parse_labels(label),
                force=force,
                benchmark=benchmark,
                benchmark_devices=benchmark_devices,
                benchmark_rounds=benchmark_rounds,
                benchmark_turn_seconds=benchmark_turn,
            )
    print_json(rollout_dict(r)) if json_out else _show(r)


@rollout_app.command("status")
def status(
    rollout_id: Annotated[str, typer.Argument(help="A rollout id; none lists them all.")] = "",
    model: Annotated[str, typer.Option()] = "",
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """One rollout in detail, or all of them."""
    with errors_to_exit_codes(), client(server) as api:
        rollouts = [api.get_rollout(rollout_id)] if rollout_id else api.list_rollouts(model)
    if json_out:
        print_json([rollout_dict(r) for r in rollouts] if not rollout_id else rollout_dict(rollouts[0]))
        return
    if rollout_id:
        _show(rollouts[0])
        return
    rows = [
        (r.rollout_id, r.model, r.state, f"{r.wave}/{r.waves_total}", fmt_when(r.updated), r.state_reason)
        for r in rollouts
    ]
    cols = ["rollout", "model", "state", "wave", "updated", "reason"]
    console().print(table(plural(len(rows), "rollout"), cols, rows))


def _control(action: str) -> Any:
    def command(
        rollout_id: Annotated[str, typer.Argument()],
        reason: Annotated[str, typer.Option(help="Why (recorded in the events).")] = "",
        server: ServerOpt = DEFAULT_SERVER,
        json_out: JsonFlag = False,
    ) -> None:
        with errors_to_exit_codes(), client(server) as api:
            r = api.control_rollout(rollout_id, action, reason)
        print_json(rollout_dict(r)) if json_out else _show(r)

    command.__doc__ = {
        "pause": "Pause a rollout (no promotion, no rollback).",
        "resume": "Resume a paused rollout.",
        "abort": "Abort a rollout and return its devices to their previous variants.",
    }[action]
    return command


for _action in ("pause", "resume", "abort"):
    rollout_app.command(_action)(_control(_action))


def rollback(
    model: Annotated[str, typer.Argument()],
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile to roll back.")],
    reason: Annotated[str, typer.Option(help="Why (recorded; the variant stays blocked until unblocked).")],
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Manually return a profile's devices to their previous variant and block the current one."""
    with errors_to_exit_codes(), client(server) as api:
        result = api.rollback(model, profile, reason)
    if json_out:
        print_json([{"device_id": d, "variant_id": v, "generation": g} for d, v, g in result])
        return
    console().print(
        table(
            f"{plural(len(result), 'device')} rolled back",
            ["device", "variant", "generation"],
            [(d, v[:12], g) for d, v, g in result],
        )
    )


def unblock(
    model: Annotated[str, typer.Argument()],
    profile: Annotated[str, typer.Option("--profile", "-p")],
    variant: Annotated[str, typer.Option(help="The rolled-back variant id.")],
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Let the selection choose a rolled-back variant again for this profile."""
    with errors_to_exit_codes(), client(server) as api:
        api.unblock(model, profile, variant)
    if json_out:
        print_json({"model": model, "profile": profile, "variant_id": variant, "unblocked": True})
        return
    console().print(f"{variant[:12]} unblocked for {model} on {profile}", highlight=False, markup=False)


def event_dict(e: Event) -> dict[str, Any]:
    return dataclasses.asdict(e)


def events(
    kind: Annotated[
        str, typer.Option(help="e.g. rollout.decision, rollout.rolled_back, rollback.manual")
    ] = "",
    rollout: Annotated[str, typer.Option(help="Only this rollout's events.")] = "",
    device: Annotated[str, typer.Option("--device", "-d", help="Only this device's events.")] = "",
    model: Annotated[str, typer.Option(help="Only this model's events.")] = "",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Recorded decisions and actions, oldest first, with their rule and statistics."""
    with errors_to_exit_codes(), client(server) as api:
        found = api.events(kind=kind, rollout_id=rollout, device_id=device, model=model, limit=limit)
    if json_out:
        print_json([event_dict(e) for e in found])
        return
    rows = [
        (
            e.event_id,
            fmt_when(e.time),
            e.kind,
            e.rollout_id,
            e.device_id,
            e.rule,
            e.message,
            fmt_statistics(e.rule, e.details.get("statistics"), critical=bool(e.details.get("critical"))),
        )
        for e in found
    ]
    console().print(
        table(
            plural(len(rows), "event"),
            ["id", "time", "kind", "rollout", "device", "rule", "message", "statistics"],
            rows,
        )
    )
