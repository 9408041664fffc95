"""The main job end to end, as local processes: an orchestrator and three agents; variants built and
planned from estimates; the candidates measured on canary devices; the plan again from those
measurements; a rollout per profile that must show its saving against the float32 baseline it replaces;
a tightened budget rolled back automatically; a summary per profile of what runs, before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgefleet.core.errors import FailedPrecondition
from edgefleet.orchestrator.cli.render import fmt_energy
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.reference import reference_family
from edgefleet.orchestrator.service.variants import BuildResult
from edgefleet.orchestrator.service.variants import Progress as BuildProgress
from edgefleet.orchestrator.tools.demo_story import Story
from edgefleet.orchestrator.tools.demo_workdir import claim, print_kept, record_processes, write_env
from edgefleet.orchestrator.tools.harness import Processes, Served, start_agent, start_orchestrator

__all__ = ["DemoSettings", "run_demo"]

PROFILES = ("rpi4", "phone", "mcu-gateway")
TOKEN = "demo-enrolment-token-0001"
#: Windows each device's baseline must have before the rollouts (the saving is judged against them).
BASELINE_WINDOWS = 20


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
        return 4.0 if self.short else 10.0

    @property
    def turn_s(self) -> float:
        """One candidate's turn in the canaries' benchmark (interleaved rounds of these)."""
        return 0.5 if self.short else 1.0

    @property
    def pause_s(self) -> float:
        """A rollout whose saving the noise never settles pauses this long after its bake (the demo then
        aborts it and says why)."""
        return 60.0 if self.short else 180.0

    @property
    def rounds(self) -> int:
        return 3 if self.short else 4


def _wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise FailedPrecondition(f"demo: timed out after {timeout:.0f} s waiting for {what}")


def run_demo(s: DemoSettings, out: Console) -> dict[str, Any]:
    claim(s.workdir)
    logs = s.workdir / "logs"
    logs.mkdir(parents=True)
    procs = Processes()
    result: dict[str, Any] = {"workdir": str(s.workdir)}
    try:
        served = _start_orchestrator(s, procs, logs, out, result)
        with AdminClient(served.api, ca_pem=served.ca.read_bytes(), token=served.admin_token()) as api:
            _build(api, out)
            story = Story(api, out, result)
            story.plan("1. the plan from estimates (nothing measured on a device yet)", "plan_estimated")
            result["plan"] = {p: v["variant"] for p, v in result.get("plan_estimated", {}).items()}
            for profile in PROFILES:
                agent_dir = s.workdir / "agents" / profile
                extra = ("--replay", str(s.replay))
                proc = start_agent(
                    served, agent_dir, profile, TOKEN, *extra, log=logs / f"agent-{profile}.log"
                )
                procs.add(f"agent-{profile}", proc)
            record_processes(s.workdir, procs.alive())
            _wait("3 agents online", lambda: sum(d.status == "online" for d in api.list_devices()) == 3, 60)
            story.say(
                "[bold]3 agents connected[/] (rpi4, phone, mcu-gateway), each replaying labelled samples"
            )
            baseline = _baseline(api, story)
            _rollouts(api, s, story)
            _breach(api, s, story)
            _wait("every device to run what it should (rollbacks done)", lambda: _settled(api), 120)
            story.summary(baseline, PROFILES)
    finally:
        if s.keep:
            record_processes(s.workdir, procs.alive())
            print_kept(procs.alive(), result, out)
        else:
            procs.stop()
    out.print(f"\nState: {s.workdir} (orchestrator/, agents/<profile>/)   Logs: {logs}", highlight=False)
    return result


def _start_orchestrator(
    s: DemoSettings, procs: Processes, logs: Path, out: Console, result: dict[str, Any]
) -> Served:
    """`edgefleet certs init`, then `edgefleet serve` with mTLS on free ports (metrics too)."""
    env = {
        "EDGEFLEET_TRIAL_SECONDS": "1",
        "EDGEFLEET_WINDOW_SECONDS": str(s.window_s),
        "EDGEFLEET_CANARY_SECONDS": "5",
        "EDGEFLEET_ROLLOUT_TICK_SECONDS": "0.5",
        "EDGEFLEET_BOOTSTRAP_TOKEN": TOKEN,
        "EDGEFLEET_METRICS_LISTEN": "127.0.0.1:0",
    }
    proc, served = start_orchestrator(s.workdir / "orchestrator", log=logs / "orchestrator.log", env=env)
    procs.add("orchestrator", proc)
    record_processes(s.workdir, procs.alive())
    metrics = _wait("the metrics address", lambda: _read(served.data_dir / "metrics.addr"), 30)
    path = write_env(s.workdir, served.env())
    result.update(env=served.env(), env_file=str(path), metrics=f"http://{metrics}/metrics")
    out.print(
        f"[bold]orchestrator[/] agents on {served.agents} (mTLS: device certificates from its own CA), "
        f"API on {served.api}, metrics on http://{metrics}/metrics (SQLite store in {served.data_dir})",
        highlight=False,
    )
    return served


def _settled(api: AdminClient) -> bool:
    return all(
        d.phase == "committed"
        and d.active is not None
        and d.desired is not None
        and d.active.variant_id == d.desired.variant_id
        for d in api.list_devices()
    )


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


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


def _baseline(api: AdminClient, story: Story) -> str:
    """w1.0 float32 on every device, measured long enough to be the incumbent each rollout must beat."""
    base = next(c for c in api.list_variants("digits") if (c.base_name, c.recipe) == ("w1.0", "fp32"))
    api.deploy("digits", variant_id=base.variant_id, force=True)
    _wait(
        "the float32 baseline",
        lambda: all(
            d.phase == "committed" and d.active is not None and d.active.variant_id == base.variant_id
            for d in api.list_devices()
        ),
        90,
    )
    story.say(
        "baseline: every device runs [bold]w1.0 fp32[/] (forced on mcu-gateway, whose profile allows "
        "full-integer models only); measuring it as the incumbent to beat"
    )
    _wait(
        f"{BASELINE_WINDOWS} windows of the baseline on every profile",
        lambda: (
            {
                t.profile
                for t in api.telemetry("digits")
                if t.variant_id == base.variant_id and t.windows >= BASELINE_WINDOWS
            }
            >= set(PROFILES)
        ),
        120,
    )
    story.telemetry("the float32 baseline, measured on each device")
    return base.variant_id


def _rollouts(api: AdminClient, s: DemoSettings, story: Story) -> None:
    story.say(
        "\n[bold]2. measure, then choose[/]: a rollout per profile first measures the candidates worth it "
        "(the estimate's Pareto front and best, the float32 base, the incumbent) on the profile's canary, "
        "in interleaved turns while the serving variant keeps serving; then each device must show a saving "
        "against the float32 it ran (one-sided Welch bound on log energies per window) and no accuracy loss "
        "on the same samples. One profile at a time: the three devices share this machine's cores, and one's "
        "benchmark would weigh on the others' measurements (separate devices in a fleet do not)"
    )
    every = 6.0 if s.short else 10.0
    final = {}
    for profile in PROFILES:
        r = api.start_rollout(
            "digits",
            profiles=(profile,),
            policy={"waves": [0.0, 1.0], "bake_seconds": s.bake_s, "pause_after_seconds": s.pause_s},
            benchmark_rounds=s.rounds,
            benchmark_turn_seconds=s.turn_s,
        )
        final[profile] = story.follow([r.rollout_id], 900, every)[r.rollout_id]
        story.outcome(profile, final[profile])
    chosen = story.plan("3. the plan now, from what the canaries measured", "plan_measured")
    runs = {(d.profile, d.active.variant_id) for d in api.list_devices() if d.active}
    for profile, v in final.items():
        if v.state == "kept" and chosen.get(profile) and (profile, chosen[profile]) not in runs:
            story.say(
                f"  {profile}: the plan ranks {story.name(chosen[profile])} first; a rollout deploys it only "
                f"with a sure saving over what runs: {v.state_reason}"
            )
    story.result["rollout"] = {p: v.state for p, v in final.items()}


def _breach(api: AdminClient, s: DemoSettings, story: Story) -> None:
    """A variant other than what rpi4 runs, rolled out with an energy budget a fifth of what the canary
    measured for it: the analysis must roll it back, with the statistics."""
    runs = {d.profile: d.active.variant_id for d in api.list_devices() if d.active is not None}
    [plan] = api.plan("digits", ("rpi4",))
    allowed = [c for c in plan.candidates if not c.hard_reasons and c.variant.variant_id != runs.get("rpi4")]
    other = next(
        (c for c in allowed if (c.variant.base_name, c.variant.recipe) == ("w1.0", "static_wi8_ai8")),
        allowed[0] if allowed else None,
    )
    if other is None:
        raise FailedPrecondition("demo: no variant left to roll out to rpi4 for the breach")
    energy = other.figures.energy_j
    budget = energy / 5
    name = story.name(other.variant.variant_id)
    story.say(
        f"\n[bold]5. a breach[/]: rolling [bold]{name}[/] out to rpi4 with the energy budget tightened to "
        f"{fmt_energy(budget)} (its figure: {fmt_energy(energy)}, {other.figures.energy_figure})"
    )
    r = api.start_rollout(
        "digits",
        profiles=("rpi4",),
        variants={"rpi4": other.variant.variant_id},
        policy={
            "waves": [1.0],
            "bake_seconds": s.bake_s,
            "max_energy_joules": budget,
            "require_saving": False,
        },
    )
    final = story.follow([r.rollout_id], 300, 6.0 if s.short else 10.0)[r.rollout_id]
    for e in api.events(kind="rollout.decision", rollout_id=r.rollout_id)[:1]:
        st = e.details.get("statistics", {})
        story.say(
            f"[bold red]automatic rollback[/] on {e.device_id}: rule [bold]{e.rule}[/]: mean "
            f"{fmt_energy(st.get('mean', 0))}, one-sided lower bound {fmt_energy(st.get('lcb', 0))} over "
            f"k={st.get('k')} windows > budget {fmt_energy(st.get('budget', 0))} "
            f"(policy {e.details.get('policy_hash')})"
        )
        story.result["rollback_event"] = {"rule": e.rule, "device": e.device_id, "statistics": st}
    story.say(f"rollout {r.rollout_id} of {name}: [bold]{final.state}[/] {final.state_reason}")
    [after] = api.plan("digits", ("rpi4",))
    blocked = next((c for c in after.candidates if c.variant.variant_id == other.variant.variant_id), None)
    if blocked is not None and blocked.reasons:
        story.say(f"the plan for rpi4 now rejects {name}: {blocked.reasons[0]}")
    story.result["tightened"] = final.state
    story.result["breach_variant"] = name
