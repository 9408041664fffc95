"""The main job end to end: an orchestrator and three agents as local processes, variants built,
planned, rolled out in waves with live telemetry, then a tightened budget rolled back automatically.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgefleet.core.errors import FailedPrecondition
from edgefleet.orchestrator.cli.output import table
from edgefleet.orchestrator.cli.render import fmt_energy, fmt_seconds
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.reference import reference_family
from edgefleet.orchestrator.service.variants import BuildResult
from edgefleet.orchestrator.service.variants import Progress as BuildProgress
from edgefleet.orchestrator.tools.harness import Processes, Served, start_agent, start_orchestrator

__all__ = ["DemoSettings", "run_demo"]

PROFILES = ("rpi4", "phone", "mcu-gateway")
TOKEN = "demo-enrolment-token-0001"


@dataclass(frozen=True, slots=True)
class DemoSettings:
    workdir: Path
    short: bool = False
    keep: bool = False

    @property
    def window_s(self) -> float:
        return 1.0 if self.short else 2.0

    @property
    def replay(self) -> float:
        return 200.0 if self.short else 100.0

    @property
    def bake_s(self) -> float:
        return 1.0 if self.short else 5.0


def _wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise FailedPrecondition(f"demo: timed out after {timeout:.0f} s waiting for {what}")


def run_demo(s: DemoSettings, out: Console) -> dict[str, Any]:
    if s.workdir.exists():
        shutil.rmtree(s.workdir)
    logs = s.workdir / "logs"
    logs.mkdir(parents=True)
    procs = Processes()
    result: dict[str, Any] = {"workdir": str(s.workdir)}
    try:
        served = _start_orchestrator(s, procs, logs, out)
        with AdminClient(served.api, ca_pem=served.ca.read_bytes(), token=served.admin_token()) as api:
            _build(api, out)
            _plan(api, out, result)
            for profile in PROFILES:
                agent_dir = s.workdir / "agents" / profile
                extra = ("--replay", str(s.replay))
                proc = start_agent(
                    served, agent_dir, profile, TOKEN, *extra, log=logs / f"agent-{profile}.log"
                )
                procs.add(f"agent-{profile}", proc)
            _wait("3 agents online", lambda: sum(d.status == "online" for d in api.list_devices()) == 3, 60)
            out.print(
                "[bold]3 agents connected[/] (rpi4, phone, mcu-gateway), each replaying labelled samples",
                highlight=False,
            )
            _baseline(api, out)
            _rollout(api, s, out, result)
            _breach(api, s, out, result)
    finally:
        if s.keep:
            out.print(
                f"[bold]--keep[/]: still running; orchestrator metrics on http://127.0.0.1:9464/metrics. "
                f"Stop with: kill {' '.join(str(pid) for pid in procs.alive().values())}",
                highlight=False,
            )
        else:
            procs.stop()
    out.print(f"\nState: {s.workdir} (orchestrator/, agents/<profile>/)   Logs: {logs}", highlight=False)
    return result


def _start_orchestrator(s: DemoSettings, procs: Processes, logs: Path, out: Console) -> Served:
    """`edgefleet certs init`, then `edgefleet serve` with mTLS on free ports."""
    env = {
        "EDGEFLEET_TRIAL_SECONDS": "1",
        "EDGEFLEET_WINDOW_SECONDS": str(s.window_s),
        "EDGEFLEET_CANARY_SECONDS": "5",
        "EDGEFLEET_ROLLOUT_TICK_SECONDS": "0.5",
        "EDGEFLEET_BOOTSTRAP_TOKEN": TOKEN,
        "EDGEFLEET_METRICS_LISTEN": "127.0.0.1:9464" if s.keep else "127.0.0.1:0",
    }
    proc, served = start_orchestrator(s.workdir / "orchestrator", log=logs / "orchestrator.log", env=env)
    procs.add("orchestrator", proc)
    out.print(
        f"[bold]orchestrator[/] agents on {served.agents} (mTLS: device certificates from its own CA), "
        f"API on {served.api} (SQLite store in {s.workdir / 'orchestrator'})",
        highlight=False,
    )
    return served


def _build(api: AdminClient, out: Console) -> None:
    fam = reference_family()
    results: list[BuildResult] = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=out
    ) as bar:
        for ref in fam.models:
            task = bar.add_task(f"building {ref.name}", total=None)
            for update in api.build_variants(
                model="digits",
                base=ref.path.read_bytes(),
                eval_npz=fam.eval_path.read_bytes(),
                base_name=ref.name.split("_")[1],
            ):
                if isinstance(update, BuildProgress):
                    bar.update(task, total=update.total, completed=update.done, description=update.stage)
                else:
                    results.append(update)
                    bar.update(task, completed=bar.tasks[task].total, description=f"{ref.name}: analysed")
    n = sum(len(r.variants) for r in results)
    out.print(
        f"[bold]{n} variants[/] built, analysed (MACs, peak memory, TFLite Micro arena), evaluated, signed",
        highlight=False,
    )


def _plan(api: AdminClient, out: Console, result: dict[str, Any]) -> None:
    rows = []
    for p in api.plan("digits"):
        c = p.chosen
        if c is None:
            rows.append((p.profile, "nothing feasible", "", "", "", p.summary))
            continue
        base = next(
            x
            for x in p.candidates
            if x.variant.base_name == c.variant.base_name and x.variant.recipe == "fp32"
        )
        lost = [x for x in p.candidates if not x.feasible]
        reasons = sorted({r.split(":")[0].split(" >")[0].split(" <")[0] for x in lost for r in x.reasons})
        rows.append(
            (
                p.profile,
                f"{c.variant.base_name} {c.variant.recipe}",
                fmt_energy(c.figures.energy_j),
                f"{base.figures.energy_j / c.figures.energy_j:.1f}x less",
                f"{c.figures.accuracy:.2%}",
                f"{len(lost)} rejected: " + ", ".join(reasons[:4]),
            )
        )
        result.setdefault("plan", {})[p.profile] = c.variant.variant_id
    out.print(
        table(
            "plan (estimated energy; why the others lost)",
            ["profile", "chosen", "energy/inference", "vs fp32", "accuracy", "rejected"],
            rows,
        )
    )


def _baseline(api: AdminClient, out: Console) -> None:
    base = next(c for c in api.list_variants("digits") if (c.base_name, c.recipe) == ("w1.0", "fp32"))
    # the float32 baseline everywhere: forced on mcu-gateway, whose profile allows full-integer models only
    api.deploy("digits", variant_id=base.variant_id, force=True)
    _wait(
        "the float32 baseline",
        lambda: all(
            d.phase == "committed" and d.active is not None and d.active.variant_id == base.variant_id
            for d in api.list_devices()
        ),
        90,
    )
    out.print("baseline: every device runs [bold]w1.0 fp32[/] (committed after its trial)", highlight=False)


def _telemetry_table(api: AdminClient, out: Console) -> None:
    rows = []
    for t in api.telemetry("digits"):
        if t.windows:
            rows.append(
                (
                    t.profile,
                    t.recipe,
                    fmt_energy(t.energy_j),
                    f"{t.energy_kind}: {', '.join(t.energy_methods)}",
                    fmt_seconds(t.latency_p95_s),
                    f"{t.correct / t.scored:.1%}" if t.scored else "-",
                    t.windows,
                )
            )
    out.print(
        table(
            "live telemetry per (profile, variant)",
            ["profile", "variant", "energy/inference", "method", "p95", "accuracy", "windows"],
            rows,
        )
    )


def _follow(api: AdminClient, rollout_id: str, out: Console, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    shown = 0.0
    while time.monotonic() < deadline:
        r = api.get_rollout(rollout_id)
        if r.state not in ("pending", "running"):
            return r
        if time.monotonic() - shown > 8:
            states = ", ".join(f"{d.device_id.split('-')[0]}:{d.state}" for d in r.devices)
            out.print(f"  {rollout_id} wave {r.wave}/{r.waves_total}: {states}", highlight=False)
            shown = time.monotonic()
        time.sleep(0.5)
    raise FailedPrecondition(f"demo: rollout {rollout_id} did not finish in {timeout:.0f} s")


def _rollout(api: AdminClient, s: DemoSettings, out: Console, result: dict[str, Any]) -> None:
    r = api.start_rollout("digits", policy={"waves": [0.0, 1.0], "bake_seconds": s.bake_s})
    out.print(
        f"\n[bold]rollout {r.rollout_id}[/]: the plan's choice per profile, canary first, then the rest",
        highlight=False,
    )
    final = _follow(api, r.rollout_id, out, 240)
    _telemetry_table(api, out)
    out.print(f"rollout {r.rollout_id}: [bold]{final.state}[/] {final.state_reason}", highlight=False)
    result["rollout"] = final.state


def _breach(api: AdminClient, s: DemoSettings, out: Console, result: dict[str, Any]) -> None:
    measured = next(
        t for t in api.telemetry("digits", "rpi4") if t.windows and t.variant_id == result["plan"]["rpi4"]
    )
    budget = measured.energy_j / 5
    out.print(
        f"\n[bold]tightening rpi4's energy budget[/] to {fmt_energy(budget)} (devices measure "
        f"{fmt_energy(measured.energy_j)}) and rolling a different variant out there",
        highlight=False,
    )
    other = next(
        c
        for c in api.list_variants("digits")
        if c.variant_id != result["plan"]["rpi4"] and (c.base_name, c.recipe) == ("w1.0", "static_wi8_ai8")
    )
    r = api.start_rollout(
        "digits",
        profiles=("rpi4",),
        variants={"rpi4": other.variant_id},
        policy={"waves": [1.0], "bake_seconds": s.bake_s, "max_energy_joules": budget},
    )
    final = _follow(api, r.rollout_id, out, 180)
    events = api.events(kind="rollout.decision", rollout_id=r.rollout_id)
    if events:
        e = events[0]
        st = e.details.get("statistics", {})
        out.print(
            f"[bold red]automatic rollback[/] on {e.device_id}: rule [bold]{e.rule}[/]: mean "
            f"{fmt_energy(st.get('mean', 0))}, one-sided lower bound {fmt_energy(st.get('lcb', 0))} over "
            f"k={st.get('k')} windows > budget {fmt_energy(st.get('budget', 0))} "
            f"(policy {e.details.get('policy_hash')})",
            highlight=False,
        )
        result["rollback_event"] = {"rule": e.rule, "device": e.device_id, "statistics": st}
    out.print(f"rollout {r.rollout_id}: [bold]{final.state}[/] {final.state_reason}", highlight=False)
    plan = api.plan("digits", ("rpi4",))[0]
    blocked = next((c for c in plan.candidates if c.variant.variant_id == other.variant_id), None)
    if blocked is not None and blocked.reasons:
        out.print(f"the plan for rpi4 now rejects it: {blocked.reasons[0]}", highlight=False)
    result["tightened"] = final.state
