"""One control plane from two `edgefleet serve` processes on a real PostgreSQL, with real agent processes
(each given both replicas) and simulated agents (an `edgefleet simulate` process on replica B).

A deploy made through A reaches agents connected to B; a rollout in waves, started (and so advanced)
by A, completes after A is SIGKILLed: B takes it over at the wave it was in and never redeploys a device;
the real agents on A fail over to B; no telemetry window is lost or stored twice; the devices list shows
each device once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.reference import reference_family
from edgefleet.orchestrator.server.app import open_services
from edgefleet.orchestrator.service.variants import BuildRequest
from edgefleet.orchestrator.store import open_store
from tests.helpers.postgres import PostgresServer
from tests.helpers.processes import BIN, Served, orchestrator, stop, wait_until
from tests.helpers.replicas import replica_env, shared_database

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("postgres")]
runner = CliRunner()
#: What every replica runs with: short leases and intervals, so a death is noticed in seconds.
SETTINGS = {
    "EDGEFLEET_LEASE_SECONDS": "2",
    "EDGEFLEET_HEARTBEAT_SECONDS": "0.5",
    "EDGEFLEET_ROLLOUT_TICK_SECONDS": "0.3",
    "EDGEFLEET_TRIAL_SECONDS": "0.5",
    "EDGEFLEET_WINDOW_SECONDS": "1",
    "EDGEFLEET_ARTIFACT_LISTEN": "127.0.0.1:0",
}
#: Every window must hold n_min labelled samples for an accuracy verdict (138 at a 0.85 floor): the real
#: agents replay 300 a second in 1 s windows, the simulated ones label 100-300 a window.
POLICY = {
    "accuracy_floor": 0.85,
    "max_energy_joules": 1.0,
    "max_latency_p95_seconds": 1.0,
    "waves": [0.5, 1.0],
    "bake_seconds": 3.0,
    "require_saving": False,  # static int8 saves nothing on this host's CPU; the test is about replicas
}
SIMULATED = 20


def cli(served: Served, *args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"], env=served.env())
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _explain(api: AdminClient, rollout_id: str) -> str:
    r = api.get_rollout(rollout_id)
    devices = {d.device_id: d for d in api.list_devices()}
    lines = [f"rollout {r.state} wave {r.wave}/{r.waves_total} {r.state_reason}"]
    for d in r.devices:
        dev = devices[d.device_id]
        lines.append(
            f"  {d.device_id} wave {d.wave} {d.state} {d.reason!r}; device {dev.status} on {dev.replica!r} "
            f"phase {dev.phase} gen {dev.desired_generation}/{dev.applied_generation} {dev.phase_reason!r}"
        )
    lines += [f"  event {e.kind} {e.rule} {e.message}" for e in api.events(rollout_id=rollout_id, limit=50)]
    return "\n".join(lines)


def _template(root: Path) -> Path:
    """Two variants of one width are enough here (a rollout from fp32 to static int8)."""
    services = open_services(ServerConfig(data_dir=root, insecure=True, api_listen=""))
    family = reference_family()
    ref = family.models[-1]
    services.variants.build(
        BuildRequest(
            model="digits",
            base=ref.path.read_bytes(),
            eval_npz=family.eval_path.read_bytes(),
            base_name=ref.name.split("_")[1],
            recipes=("fp32", "static_wi8_ai8"),
        )
    )
    services.close()
    return root


@contextmanager
def _process(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        yield proc
    finally:
        stop(proc)


@pytest.mark.timeout(900)
def test_two_replicas_one_control_plane(tmp_path: Path, pg_server: PostgresServer) -> None:
    url, shared = shared_database(pg_server, "e2e", _template(tmp_path / "template"), tmp_path)
    for name in ("a", "b"):  # each replica's own data directory; the CA is the shared one
        (tmp_path / name).mkdir()
        (tmp_path / name / "tls").symlink_to(shared / "tls")
    with ExitStack() as stack:
        proc_a, a = stack.enter_context(
            orchestrator(tmp_path / "a", env=replica_env(url, shared, "a", **SETTINGS))
        )
        _, b = stack.enter_context(
            orchestrator(tmp_path / "b", env=replica_env(url, shared, "b", **SETTINGS))
        )
        api_a = stack.enter_context(AdminClient(a.api, ca_pem=a.ca.read_bytes(), token=a.admin_token()))
        api_b = stack.enter_context(AdminClient(b.api, ca_pem=b.ca.read_bytes(), token=b.admin_token()))
        token = api_a.create_token(uses=3)[0]
        # real agents, each told both replicas: two start on A, one on B
        orders = {"r1": (a, b), "r2": (b, a), "r3": (a, b)}
        senders: list[subprocess.Popen[bytes]] = []  # every process that sends telemetry
        for name, (first, second) in orders.items():
            argv = first.agent_command(
                tmp_path / name,
                "rpi4",
                token,
                "--replay",
                "100",
                orchestrator=f"{first.agents},{second.agents}",
            )
            senders.append(stack.enter_context(_process(argv, tmp_path / f"{name}.log")))

        def real() -> dict[str, Any]:
            return {d.device_id: d for d in api_b.list_devices() if d.status == "online"}

        wait_until(
            lambda: len(real()) == 3 and {d.replica for d in real().values()} == {"a", "b"}, "3 online"
        )
        on_b = [d.device_id for d in real().values() if d.replica == "b"]
        assert len(on_b) == 1
        real_ids = sorted(real())

        # a deploy made through A reaches the agent connected to B
        cards = {c.recipe: c.variant_id for c in api_a.list_variants("digits")}
        api_a.deploy("digits", profiles=("rpi4",), variant_id=cards["fp32"])

        def serving(variant: str, ids: list[str]) -> bool:
            devices = {d.device_id: d for d in api_b.list_devices()}
            return all(
                devices[i].phase == "committed"
                and (devices[i].active and devices[i].active.variant_id) == variant
                for i in ids
            )

        wait_until(lambda: serving(cards["fp32"], on_b), "the deploy through A on the agent on B")
        wait_until(lambda: serving(cards["fp32"], real_ids), "the deploy on every real agent")

        # simulated agents, all on B
        sim = [str(BIN / "edgefleet"), "simulate", "--agents", str(SIMULATED), "--profiles", "rpi4",
               "--duration", "600", "--window", "1", "--orchestrator", b.agents, "--server", b.api]  # fmt: skip
        senders.append(stack.enter_context(_process(sim, tmp_path / "simulate.log", b.env())))
        wait_until(
            lambda: len(api_b.list_devices()) == 3 + SIMULATED and len(real()) == 3 + SIMULATED, "all online"
        )
        before = {d.device_id: d.desired_generation for d in api_b.list_devices()}

        # a rollout in waves, started through A: A holds its lease and advances it
        rollout = api_a.start_rollout(
            "digits", profiles=("rpi4",), variants={"rpi4": cards["static_wi8_ai8"]}, policy=POLICY
        )
        store = stack.enter_context(_closing(open_store(url)))
        assert [x.holder for x in store.leases(time.time(), f"rollout/{rollout.rollout_id}")] == ["a"]
        wait_until(
            lambda: any(d.state != "waiting" for d in api_b.get_rollout(rollout.rollout_id).devices), "wave 1"
        )
        at_kill = api_b.get_rollout(rollout.rollout_id)
        assert (at_kill.state, at_kill.wave) == ("running", 1)
        proc_a.send_signal(signal.SIGKILL)  # no lease released, no presence dropped, streams cut
        proc_a.wait(timeout=30)

        def held_by_b() -> bool:
            return [x.holder for x in store.leases(time.time(), f"rollout/{rollout.rollout_id}")] == ["b"]

        wait_until(held_by_b, "B to take the rollout over")
        assert api_b.get_rollout(rollout.rollout_id).wave >= at_kill.wave  # from where A left it

        try:
            done = wait_until(
                lambda: (
                    (r := api_b.get_rollout(rollout.rollout_id)).state not in ("running", "pending") and r
                ),
                "the rollout to finish on B",
                timeout=300,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_explain(api_b, rollout.rollout_id)}") from None
        assert done.state == "succeeded", done.state_reason
        events = api_b.events(rollout_id=rollout.rollout_id, limit=1000)
        assert sum(e.kind == "rollout.promoted" for e in events) == done.waves_total - 1  # no wave twice
        # B went on from where A left: every device got exactly one new generation from the rollout
        after = {d.device_id: d.desired_generation for d in api_b.list_devices()}
        assert after == {i: g + 1 for i, g in before.items()}
        assert done.wave == done.waves_total == 2

        # the real agents on A moved to B, and run the new variant
        wait_until(
            lambda: {d.replica for d in real().values()} == {"b"} and len(real()) == 3 + SIMULATED, "on B"
        )
        wait_until(lambda: serving(cards["static_wi8_ai8"], real_ids), "the candidate on every real agent")

        # no window lost or stored twice: each real agent's stored sequences run 1..N without a gap, and the
        # running totals (which grow once per new window) equal the windows stored
        def flushed() -> bool:
            return all(store.acked(i) == store.last_window_seq(i) >= 5 for i in real_ids)

        wait_until(flushed, "the agents' windows acknowledged")
        # then no one sends any more: the totals and the windows are read in two statements, and a window
        # stored between them would count in one and not the other
        for proc in senders:
            stop(proc)
        for device_id in real_ids:
            seqs = sorted(w.seq for w in store.windows(device_id=device_id))
            assert seqs == list(range(1, len(seqs) + 1)), device_id
        assert sum(t.windows for t in store.variant_totals()) == len(store.windows(unflagged=True))

        # the devices list: each device once
        listed = [d["device_id"] for d in cli(b, "devices", "list")]
        assert sorted(listed) == sorted(set(listed))
        assert len(listed) == 3 + SIMULATED


@contextmanager
def _closing(store: Any) -> Iterator[Any]:
    try:
        yield store
    finally:
        store.close()
