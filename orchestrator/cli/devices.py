"""``edgefleet devices ...`` and ``edgefleet deploy``."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from edgefleet.orchestrator.cli.common import (
    DEFAULT_SERVER,
    ForceFlag,
    JsonFlag,
    LabelOpt,
    ProfilesOpt,
    ServerOpt,
    client,
    parse_labels,
)
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, plural, print_json, table
from edgefleet.orchestrator.cli.render import WINDOW_COLUMNS, fmt_hardware, fmt_when, window_row
from edgefleet.orchestrator.client.views import DeviceView, SlotView, VariantRefView

devices_app = typer.Typer(help="Enrolment tokens and the fleet's devices.", no_args_is_help=True)


def ref(v: VariantRefView | None) -> str:
    return v.short if v is not None else "-"


def _slot(s: SlotView) -> str:
    """``committed dd23d5353665 static_wi8_ai8, since 2026-... (4 min ago)``; an empty slot says only that."""
    if s.variant is None and s.state == "empty":
        return "empty"
    text = f"{s.state} {ref(s.variant)}" + (f": {s.reason}" if s.reason else "")
    return f"{text}, since {fmt_when(s.since)}" if s.since else text


def device_dict(d: DeviceView) -> dict[str, Any]:
    return dataclasses.asdict(d)


@devices_app.command("token")
def token(
    profile: Annotated[str, typer.Option("--profile", "-p", help="Restrict the token to this profile.")] = "",
    ttl: Annotated[float, typer.Option(help="Seconds until it expires.")] = 3600.0,
    uses: Annotated[int, typer.Option(min=1, help="How many devices may enrol with it.")] = 1,
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Create an enrolment token for `edgefleet-agent run --token`."""
    with errors_to_exit_codes(), client(server) as api:
        value, expires = api.create_token(ttl_seconds=ttl, profile=profile, uses=uses)
    if json_out:
        print_json({"token": value, "expires": expires, "profile": profile or None, "uses": uses})
    else:
        typer.echo(value)


@devices_app.command("list")
def list_(
    profile: ProfilesOpt = [],  # noqa: B006
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Every device with its reported state, last seen, active variant and deployment status."""
    with errors_to_exit_codes(), client(server) as api:
        devices = [d for p in dict.fromkeys(profile or [""]) for d in api.list_devices(p)]
    if json_out:
        print_json([device_dict(d) for d in devices])
        return
    rows = [
        (
            d.device_id,
            d.profile,
            d.status,
            fmt_when(d.last_seen),
            d.active.short if d.active else "-",
            f"{d.desired.short} (gen {d.desired_generation})" if d.desired else "-",
            (d.phase + (f": {d.phase_reason}" if d.phase_reason else "")) or "-",
            d.runtime or "-",
        )
        for d in devices
    ]
    cols = ["device", "profile", "status", "last seen", "active", "desired", "deployment", "runtime"]
    console().print(table(plural(len(devices), "device"), cols, rows))


@devices_app.command("show")
def show(
    device_id: Annotated[str, typer.Argument()],
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """One device in full: hardware, runtime, slots, desired and reported state."""
    with errors_to_exit_codes(), client(server) as api:
        d, windows = api.get_device_windows(device_id)
    if json_out:
        print_json({**device_dict(d), "recent_windows": [dataclasses.asdict(w) for w in windows]})
        return
    rows: list[tuple[str, Any]] = [
        ("name", d.name),
        ("profile", d.profile),
        ("status", d.status),
        ("labels", ", ".join(f"{k}={v}" for k, v in sorted(d.labels.items())) or "-"),
        ("enrolled", fmt_when(d.created)),
        ("last seen", fmt_when(d.last_seen)),
        ("active", ref(d.active)),
        ("previous", ref(d.previous)),
        ("desired", f"{ref(d.desired)} (generation {d.desired_generation})" if d.desired else "-"),
        ("applied generation", d.applied_generation or "none yet"),
        ("deployment", (d.phase + (f": {d.phase_reason}" if d.phase_reason else "")) or "-"),
        ("fault", d.phase_fault or "-"),
        ("runtime", d.runtime or "-"),
        ("agent", d.agent_version or "-"),
        ("hardware", fmt_hardware(d.hardware)),
    ]
    rows += [(f"slot {s.name}", _slot(s)) for s in d.slots]
    if d.slots:
        rows.append(("slots reported", fmt_when(d.slots_reported)))
    rows += [(f"condition {c.type}", f"{c.message} (since {fmt_when(c.since)})") for c in d.conditions]
    console().print(table(f"device {d.device_id} ({d.status})", ["field", "value"], rows))
    if windows:
        console().print(table("recent telemetry windows", WINDOW_COLUMNS, [window_row(w) for w in windows]))


@devices_app.command("label")
def label(
    device_id: Annotated[str, typer.Argument()],
    changes: Annotated[list[str], typer.Argument(help="KEY=VALUE to set, KEY- to remove.")],
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Set or remove a device's labels (deploy, rollout and plan select devices by them)."""
    with errors_to_exit_codes():
        remove = tuple(c[:-1] for c in changes if c.endswith("-") and "=" not in c)
        set_ = parse_labels([c for c in changes if not (c.endswith("-") and "=" not in c)], "a label")
        with client(server) as api:
            d = api.label_device(device_id, set_, remove)
    if json_out:
        print_json(device_dict(d))
    else:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(d.labels.items())) or "none"
        console().print(f"{d.device_id}: labels {shown}", highlight=False, markup=False)


@devices_app.command("revoke")
def revoke(
    device_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why (kept with the device).")] = "",
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Revoke a device for good: its stream is cut now and every reconnect is refused."""
    with errors_to_exit_codes(), client(server) as api:
        d = api.revoke_device(device_id, reason)
    if json_out:
        print_json(device_dict(d))
    else:
        console().print(
            f"revoked {d.device_id} ({d.name}); its stream is closed and reconnects are refused",
            highlight=False,
            markup=False,
        )


def deploy(
    model: Annotated[str, typer.Argument(help="Model family.")],
    profile: Annotated[list[str], typer.Option("--profile", "-p", help="Target profile(s).")] = [],  # noqa: B006
    device: Annotated[list[str], typer.Option("--device", "-d", help="Target device id(s).")] = [],  # noqa: B006
    variant: Annotated[str, typer.Option(help="This variant instead of the plan's choice.")] = "",
    objective: Annotated[str, typer.Option(help="min-energy or max-accuracy.")] = "min-energy",
    label: LabelOpt = [],  # noqa: B006
    force: ForceFlag = False,
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Set the desired variant of the targeted devices (all devices when no target is given)."""
    with errors_to_exit_codes(), client(server) as api:
        result = api.deploy(
            model,
            profiles=tuple(profile),
            device_ids=tuple(device),
            variant_id=variant,
            objective=objective,
            labels=parse_labels(label),
            force=force,
        )
    if json_out:
        print_json(
            [{"device_id": d, "profile": p, "variant_id": v, "generation": g} for d, p, v, g in result]
        )
        return
    rows = [(d, p, v[:12], g) for d, p, v, g in result]
    console().print(
        table(
            f"desired state set on {plural(len(result), 'device')}",
            ["device", "profile", "variant", "generation"],
            rows,
        )
    )
