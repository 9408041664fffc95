"""``edgefleet devices ...`` and ``edgefleet deploy``."""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated, Any

import typer

from edgefleet.orchestrator.cli.common import DEFAULT_SERVER, JsonFlag, ServerOpt, client
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, print_json, table
from edgefleet.orchestrator.cli.render import WINDOW_COLUMNS, window_row
from edgefleet.orchestrator.fleet.model import DeviceRecord

devices_app = typer.Typer(help="Enrolment tokens and the fleet's devices.", no_args_is_help=True)


def device_dict(d: DeviceRecord) -> dict[str, Any]:
    doc = dataclasses.asdict(d)
    doc.pop("secret_hash")
    if d.desired is not None:
        doc["desired"] = {k: doc["desired"][k] for k in ("generation", "variant_id", "model", "recipe")}
    return doc


def _status(d: DeviceRecord) -> str:
    return "revoked" if d.revoked else "online" if d.online else "offline"


def _ago(t: float) -> str:
    return "never" if not t else f"{max(0.0, time.time() - t):.0f} s ago"


@devices_app.command("token")
def token(
    profile: Annotated[str, typer.Option(help="Restrict the token to this profile.")] = "",
    ttl: Annotated[float, typer.Option(help="Seconds until it expires.")] = 3600.0,
    uses: Annotated[int, typer.Option(help="How many devices may enrol with it.")] = 1,
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
    profile: Annotated[str, typer.Option(help="Only this profile.")] = "",
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Every device with its reported state, last seen, active variant and deployment status."""
    with errors_to_exit_codes(), client(server) as api:
        devices = api.list_devices(profile)
    if json_out:
        print_json([device_dict(d) for d in devices])
        return
    rows = [
        (
            d.device_id,
            d.profile,
            _status(d),
            _ago(d.last_seen),
            (d.report.active_variant[:12] + " " + d.report.active_recipe)
            if d.report and d.report.active_variant
            else "-",
            (f"{d.desired.variant_id[:12]} (gen {d.desired.generation})" if d.desired else "-"),
            (d.phase + (f": {d.phase_reason}" if d.phase_reason else "")) or "-",
            f"{d.report.runtime_name} {d.report.runtime_version}" if d.report else "-",
        )
        for d in devices
    ]
    cols = ["device", "profile", "status", "last seen", "active", "desired", "deployment", "runtime"]
    console().print(table(f"{len(devices)} devices", cols, rows))


@devices_app.command("show")
def show(
    device_id: Annotated[str, typer.Argument()],
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """One device in full: hardware, runtime, slots, desired and reported state."""
    with errors_to_exit_codes(), client(server) as api:
        d, windows = api.get_device_windows(device_id)
    doc = device_dict(d)
    doc["recent_windows"] = [dataclasses.asdict(w) for w in windows]
    if json_out:
        print_json(doc)
        return
    doc.pop("recent_windows")
    rows = [(k, v) for k, v in doc.items() if k != "report"]
    if d.report is not None:
        rows += [
            ("runtime", f"{d.report.runtime_name} {d.report.runtime_version}"),
            ("hardware", d.report.hardware),
        ]
        rows += [
            (f"slot {s.name}", f"{s.state} {s.variant_id[:12]} {s.recipe} {s.reason}") for s in d.report.slots
        ]
    console().print(table(f"device {d.device_id} ({_status(d)})", ["field", "value"], rows))
    if windows:
        console().print(table("recent telemetry windows", WINDOW_COLUMNS, [window_row(w) for w in windows]))


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
        console().print(f"revoked {d.device_id} ({d.name}); its stream is closed and reconnects are refused")


def deploy(
    model: Annotated[str, typer.Argument(help="Model family.")],
    profile: Annotated[list[str], typer.Option("--profile", "-p", help="Target profile(s).")] = [],  # noqa: B006
    device: Annotated[list[str], typer.Option("--device", "-d", help="Target device id(s).")] = [],  # noqa: B006
    variant: Annotated[str, typer.Option(help="Force this variant instead of the plan's choice.")] = "",
    objective: Annotated[str, typer.Option(help="min-energy or max-accuracy.")] = "min-energy",
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """Set the desired variant of the targeted devices (all devices when no target is given)."""
    with errors_to_exit_codes(), client(server) as api:
        result = api.deploy(
            model, profiles=tuple(profile), device_ids=tuple(device), variant_id=variant, objective=objective
        )
    if json_out:
        print_json(
            [{"device_id": d, "profile": p, "variant_id": v, "generation": g} for d, p, v, g in result]
        )
        return
    rows = [(d, p, v[:12], g) for d, p, v, g in result]
    console().print(
        table(
            f"desired state set on {len(result)} device(s)",
            ["device", "profile", "variant", "generation"],
            rows,
        )
    )
