"""Fault injection: a full disk, SIGKILLed agents and orchestrators, cut and slow links, a locked or
corrupt store. Real processes, real mTLS, a real loopback proxy for the network faults (this machine
has no netns/tc)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from edgefleet.agent.config import AgentConfig
from edgefleet.core.errors import FailedPrecondition, Unavailable
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.store import SqliteStore
from tests.helpers.fleet import (
    agent_config,
    agent_in_process,
    committed,
    orchestrator_in_process,
    predict,
    push_desired,
    variant_id,
    wait_for,
)
from tests.helpers.netproxy import LinkProxy
from tests.helpers.processes import BIN, orchestrator, read_until, stop

pytestmark = pytest.mark.slow


async def test_disk_full_during_download(template: Path, tmp_path: Path, evalset: Any) -> None:
    """ENOSPC while writing the artifact (a real kernel ENOSPC: the partial file is /dev/full): a clear
    failure reported to the orchestrator, the partial file removed, the old variant keeps serving."""
    async with orchestrator_in_process(template, tmp_path) as server:
        cfg = agent_config(server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0])
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            old, new = variant_id(server, "w0.5", "fp32"), variant_id(server, "w1.0", "fp32")
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=old)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, old), what="old variant")
            [b] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=new)
            assert b.desired is not None
            part = cfg.data_dir / "downloads" / f"{b.desired.bundle_sha256}.part"
            part.symlink_to("/dev/full")
            push_desired(server, b)
            await wait_for(lambda: server.services.devices.get(b.device_id).phase == "failed", what="failure")
            reason = server.services.devices.get(b.device_id).phase_reason
            assert "no space left on the device" in reason, reason
            assert not part.exists()
            assert not part.is_symlink()  # removed, space given back
            assert committed(agent, old)
            reply = await predict(agent, evalset.x[:1])
            assert reply.variant.variant_id == old


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_agent_sigkill_during_download_resumes_and_never_activates_a_partial_file(
    template: Path, tmp_path: Path
) -> None:
    import shutil

    data = tmp_path / "orch"
    shutil.copytree(template, data)
    with orchestrator(data) as (_, served):
        proxy = LinkProxy(served.agents, rate_bps=8_000)  # a slow link: the download takes seconds
        await proxy.start()
        admin = AdminClient(served.api, ca_pem=served.ca.read_bytes(), token=served.admin_token())
        token = (await asyncio.to_thread(admin.create_token))[0]
        agent_dir = tmp_path / "agent"
        log = (tmp_path / "agent.log").open("a")
        env = {**os.environ, "EDGEFLEET_AGENT_DOWNLOAD_CHUNK_KIB": "4"}
        proc = subprocess.Popen(  # noqa: ASYNC220 - a real agent process, started once
            served.agent_command(agent_dir, "rpi4", token, orchestrator=proxy.address),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            await wait_for(
                lambda: bool(admin.list_devices()) and admin.list_devices()[0].status == "online",
                what="online",
            )
            cards = await asyncio.to_thread(admin.list_variants, "digits")
            target = next(c for c in cards if c.base_name == "w1.0" and c.recipe == "fp32")
            [(device_id, _, _, _)] = await asyncio.to_thread(
                admin.deploy, "digits", variant_id=target.variant_id
            )
            reader = SqliteStore(data / "edgefleet.sqlite")  # a second reader beside the server (WAL)
            bundle = reader.get_bundle(target.variant_id)
            reader.close()
            assert bundle is not None
            part = agent_dir / "downloads" / f"{bundle.sha256}.part"
            size = bundle.size
            await wait_for(
                lambda: part.exists() and size * 0.3 <= part.stat().st_size < size * 0.7,
                what="a third of the download",
                timeout=60,
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            partial = part.stat().st_size
            assert 0 < partial < size
            slots = (agent_dir / "slots").rglob("*")
            assert not any(target.variant_id[:12] in str(p) for p in slots)  # nothing half-installed
            # back, on a fast link: it resumes from the partial file and activates only the verified whole
            proxy.rate_bps = 0
            before = proxy.bytes_forwarded
            proc = subprocess.Popen(  # noqa: ASYNC220 - the same agent, restarted
                served.agent_command(agent_dir, "rpi4", token, orchestrator=proxy.address),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

            def done() -> bool:
                d = admin.get_device(device_id)
                return (
                    d.phase in ("trial", "committed")
                    and d.active is not None
                    and d.active.variant_id == target.variant_id
                )

            await wait_for(done, what="the resumed deployment", timeout=60)
            moved = proxy.bytes_forwarded - before
            # TLS handshakes, the stream and telemetry add tens of KiB; a full re-download would move >= size
            overhead = 48_000
            assert size - partial + overhead < size  # the bound below tells a resume from a re-download
            assert moved < size - partial + overhead, (moved, size, partial)
            assert not part.exists()
        finally:
            stop(proc)
            log.close()
            admin.close()
            await proxy.stop()


async def test_network_cut_and_slow_link(template: Path, tmp_path: Path) -> None:
    """A cut link: the agent reconnects (backoff) and no telemetry window is lost or duplicated. A slow,
    lossy-latency link (150 ms each way): a deployment still completes."""
    async with orchestrator_in_process(template, tmp_path, window_seconds=0.3) as server:
        proxy = LinkProxy(server.address)
        await proxy.start()
        cfg = agent_config(server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0])
        cfg = dataclasses.replace(cfg, orchestrator=proxy.address, replay_rate=200.0, window_seconds=0.3)
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            first = variant_id(server, "w0.5", "fp32")
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=first)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, first), what="commit")
            await wait_for(lambda: server.services.store.count_windows(a.device_id) >= 3, what="windows")
            proxy.cut()
            await wait_for(lambda: not agent.connected.is_set(), what="the cut noticed")
            await asyncio.sleep(2.0)  # windows pile up in the outbox meanwhile
            assert agent.telemetry.state.backlog > 0
            proxy.restore()
            await wait_for(agent.connected.is_set, what="reconnect", timeout=30)
            await wait_for(lambda: agent.telemetry.state.backlog == 0, what="backlog delivered", timeout=30)
            seqs = sorted(w.seq for w in server.services.store.windows(device_id=a.device_id))
            assert seqs == list(range(1, seqs[-1] + 1))  # contiguous: nothing lost, nothing twice
            # slow link: deployment and acknowledgements over 150 ms one-way delay
            proxy.delay_s = 0.15
            second = variant_id(server, "w1.0", "fp32")
            [b] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=second)
            push_desired(server, b)
            await wait_for(lambda: committed(agent, second), what="deploy over a slow link", timeout=60)
        await proxy.stop()


async def test_orchestrator_sigkill_mid_rollout_resumes_at_the_same_wave(
    template: Path, tmp_path: Path
) -> None:
    import shutil

    data = tmp_path / "orch"
    shutil.copytree(template, data)
    port = _free_port()
    env = {
        "EDGEFLEET_WINDOW_SECONDS": "0.5",
        "EDGEFLEET_ROLLOUT_TICK_SECONDS": "0.3",
        "EDGEFLEET_TRIAL_SECONDS": "0.3",
    }
    listen = ("--listen", f"127.0.0.1:{port}")
    async with AsyncExitStack() as stack:
        with orchestrator(data, *listen, env=env) as (proc, served):
            admin = AdminClient(served.api, ca_pem=served.ca.read_bytes(), token=served.admin_token())
            token = (await asyncio.to_thread(admin.create_token, uses=3))[0]
            agents = []
            for i in range(3):
                cfg = AgentConfig(
                    orchestrator=served.agents,
                    enroll_address=served.api,
                    ca_file=served.ca,
                    profile="rpi4",
                    data_dir=tmp_path / f"a{i}",
                    token=token,
                    backoff_initial_seconds=0.05,
                    backoff_max_seconds=0.5,
                    heartbeat_seconds=0.5,
                    replay_rate=300.0,
                    window_seconds=0.5,
                )
                agents.append(await stack.enter_async_context(agent_in_process(cfg)))
            for ag in agents:
                await wait_for(ag.connected.is_set, what="connection")
            cards = await asyncio.to_thread(admin.list_variants, "digits")
            ids = {(c.base_name, c.recipe): c.variant_id for c in cards}
            previous, candidate = ids[("w1.0", "fp32")], ids[("w1.0", "static_wi8_ai8")]
            await asyncio.to_thread(admin.deploy, "digits", variant_id=previous)
            for ag in agents:
                await wait_for(lambda ag=ag: committed(ag, previous), what="previous committed")
            policy = {
                "accuracy_floor": 0.9,
                "max_energy_joules": 1.0,
                "max_latency_p95_seconds": 1.0,
                "waves": [0.34, 1.0],
                # long enough that the canary passes well inside it even on a loaded machine: a pass after
                # the bake promotes wave 1 at the next tick, before the test could see it passed
                "bake_seconds": 30.0,
                "require_saving": False,  # about the restart, not the saving (static int8 saves none here)
            }
            rollout = await asyncio.to_thread(
                admin.start_rollout, "digits", profiles=("rpi4",), policy=policy, variants={"rpi4": candidate}
            )

            def canary_passed() -> bool:
                r = admin.get_rollout(rollout.rollout_id)
                return r.wave == 1 and any(d.state == "passed" for d in r.devices)

            await wait_for(canary_passed, what="the canary passed", timeout=60)
            before = await asyncio.to_thread(admin.get_rollout, rollout.rollout_id)
            proc.send_signal(signal.SIGKILL)  # no shutdown at all
            proc.wait(timeout=10)
            admin.close()
        assert (before.state, before.wave) == ("running", 1)
        with orchestrator(data, *listen, env=env) as (proc, served):
            admin = AdminClient(served.api, ca_pem=served.ca.read_bytes(), token=served.admin_token())
            resumed = await asyncio.to_thread(admin.get_rollout, rollout.rollout_id)
            assert (resumed.state, resumed.wave) == (before.state, before.wave)
            devices = await asyncio.to_thread(admin.list_devices)
            assert len(devices) == 3
            assert all(d.desired is not None for d in devices)  # no device left without a desired state
            await wait_for(
                lambda: admin.get_rollout(rollout.rollout_id).state == "succeeded", what="success", timeout=90
            )
            for ag in agents:
                await wait_for(lambda ag=ag: committed(ag, candidate), what="candidate everywhere")
            admin.close()


@contextmanager
def _write_lock_held(path: Path) -> Iterator[None]:
    """Another process holding the store's write lock (BEGIN EXCLUSIVE) until the block ends."""
    code = (
        "import sqlite3, time\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        read_until(holder, re.compile("locked"), timeout=20)  # type: ignore[arg-type]
        yield
    finally:
        holder.kill()
        holder.wait()


def test_store_locked_by_another_process_is_unavailable_then_works(tmp_path: Path) -> None:
    path = tmp_path / "edgefleet.sqlite"
    SqliteStore(path).close()
    with _write_lock_held(path):
        # opening and reading work while another process holds a write lock (WAL)
        SqliteStore(path, busy_timeout_s=0.3).close()
    store = SqliteStore(path, busy_timeout_s=0.3)
    from edgefleet.orchestrator.fleet.model import EnrollmentToken

    store.put_token(EnrollmentToken("h" * 64, "", 9e9, 1))
    # locked mid-life: a write is refused with UNAVAILABLE, nothing half-written, and then succeeds
    with _write_lock_held(path), pytest.raises(Unavailable, match="locked by another process"):
        store.put_token(EnrollmentToken("i" * 64, "", 9e9, 1))
    store.put_token(EnrollmentToken("i" * 64, "", 9e9, 1))
    assert store.use_token("h" * 64, 0.0) is not None
    assert store.use_token("i" * 64, 0.0) is not None
    store.close()


def test_corrupt_store_is_a_clear_error_and_is_left_untouched(tmp_path: Path) -> None:
    data = tmp_path / "orch"
    store = SqliteStore(data / "edgefleet.sqlite")
    from edgefleet.orchestrator.fleet.model import EnrollmentToken

    for i in range(200):
        store.put_token(EnrollmentToken(f"{i:064d}", "", 9e9, 1))
    store.close()
    db = data / "edgefleet.sqlite"
    good = db.read_bytes()
    header = b"not a database!!" + good[16:]
    db.write_bytes(header)
    with pytest.raises(FailedPrecondition, match=r"unreadable or corrupt"):
        SqliteStore(db)
    assert db.read_bytes() == header  # not "repaired" into an empty store
    raw = bytearray(good)
    raw[-3 * 4096 + 8 : -8] = os.urandom(3 * 4096 - 16)  # damaged data pages (where the tokens live)
    db.write_bytes(bytes(raw))
    with pytest.raises(FailedPrecondition, match=r"unreadable or corrupt"):
        SqliteStore(db)
    assert db.read_bytes() == bytes(raw)
    # and `edgefleet serve` refuses to start on it, naming the file, with its exit code
    result = subprocess.run(
        [
            str(BIN / "edgefleet"),
            "serve",
            "--insecure",
            "--api-listen",
            "",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "EDGEFLEET_METRICS_LISTEN": "", "COLUMNS": "400"},
    )
    assert result.returncode != 0
    assert "edgefleet.sqlite" in result.stdout + result.stderr
    assert db.read_bytes() == bytes(raw)


async def test_agent_sigkill_during_activation_comes_back_on_a_consistent_slot(
    template: Path, tmp_path: Path, evalset: Any
) -> None:
    """SIGKILL at several points after a deployment is pushed (downloading, installing, loading,
    self-testing, on trial): every restart comes back serving a variant it has fully installed, with a
    slot state that agrees with what serves, and the fleet settles."""
    import shutil

    data = tmp_path / "orch"
    shutil.copytree(template, data)
    env = {"EDGEFLEET_TRIAL_SECONDS": "2"}
    with orchestrator(data, env=env) as (_, served):
        admin = AdminClient(served.api, ca_pem=served.ca.read_bytes(), token=served.admin_token())
        token = (await asyncio.to_thread(admin.create_token))[0]
        agent_dir = tmp_path / "agent"
        log = (tmp_path / "agent.log").open("a")

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                served.agent_command(agent_dir, "rpi4", token),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        proc = start()
        try:
            await wait_for(
                lambda: bool(admin.list_devices()) and admin.list_devices()[0].status == "online",
                what="online",
            )
            device_id = admin.list_devices()[0].device_id
            cards = await asyncio.to_thread(admin.list_variants, "digits")
            ids = [c.variant_id for c in cards if c.recipe == "fp32"]
            await asyncio.to_thread(admin.deploy, "digits", variant_id=ids[0])

            def settled() -> bool:
                d = admin.get_device(device_id)
                return d.status == "online" and d.phase in ("committed", "failed", "rolled_back")

            await wait_for(settled, what="first variant", timeout=60)
            for i, delay in enumerate((0.0, 0.05, 0.15, 0.3, 0.6, 1.0)):
                target = ids[(i + 1) % len(ids)]
                await asyncio.to_thread(admin.deploy, "digits", variant_id=target)
                await asyncio.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                proc = start()
                await wait_for(settled, what=f"settled after a kill at +{delay:.2f} s", timeout=60)
                state = json.loads((agent_dir / "slots" / "state.json").read_text())
                d = admin.get_device(device_id)
                assert d.active is not None
                serving = d.active.variant_id
                assert serving in ids, (delay, serving)
                # what serves is what the slot file says is active, and it answers predictions
                active = state["active"]
                assert active in ("a", "b")
                slot = state["slots"][active]
                assert slot["variant"]["variant_id"] == serving, (delay, state)
                assert slot["state"] in ("committed", "trial")
                address = (agent_dir / "predict.addr").read_text().strip()
                reply = await _predict_at(address, evalset.x[:1])
                assert reply.variant.variant_id == serving
        finally:
            stop(proc)
            log.close()
            admin.close()


async def _predict_at(address: str, x: Any) -> Any:
    import grpc

    from edgefleet.v1 import inference_pb2, inference_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        tensor = inference_pb2.Tensor(
            shape=list(x.shape), dtype="float32", data=x.astype("float32").tobytes()
        )
        return await inference_pb2_grpc.InferenceStub(channel).Predict(
            inference_pb2.PredictRequest(input=tensor), timeout=10
        )
