"""An in-process orchestrator (real grpc.aio server on port 0, real SQLite) and in-process agents."""

from __future__ import annotations

import asyncio
import queue
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from edgefleet.agent.app import Agent
from edgefleet.agent.config import AgentConfig
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.reference import reference_family
from edgefleet.orchestrator.security import init_tls
from edgefleet.orchestrator.server.app import OrchestratorServer, open_services
from edgefleet.orchestrator.service.variants import BuildRequest
from edgefleet.v1 import inference_pb2, inference_pb2_grpc

RECIPES = ("fp32", "dynamic_wi8_afp32", "static_wi8_ai8")


def build_template(root: Path) -> Path:
    """An orchestrator data directory with the reference family built (3 widths x 3 recipes)."""
    config = ServerConfig(data_dir=root, insecure=True, api_listen="")
    services = open_services(config)
    fam = reference_family()
    for ref in fam.models:
        services.variants.build(
            BuildRequest(
                model="digits",
                base=ref.path.read_bytes(),
                eval_npz=fam.eval_path.read_bytes(),
                base_name=ref.name.split("_")[1],
                recipes=RECIPES,
            )
        )
    services.close()
    return root


@asynccontextmanager
async def orchestrator_in_process(
    template: Path,
    root: Path,
    *,
    trial_seconds: float = 0.3,
    window_seconds: float = 10.0,
    listen: str = "127.0.0.1:0",
    rollout_tick_seconds: float = 0.2,
    canary_seconds: float = 60.0,
    secure: bool = True,
    **config: Any,
) -> AsyncIterator[OrchestratorServer]:
    """mTLS by default (a CA made for the test); ``secure=False`` is the --insecure mode, one port."""
    data = root / "orch"
    if not data.exists():
        shutil.copytree(template, data)
    if secure and not (data / "tls" / "ca.key").exists():
        init_tls(data / "tls", ("127.0.0.1", "localhost"))
    settings = ServerConfig(
        listen=listen,
        api_listen="127.0.0.1:0" if secure else "",
        insecure=not secure,
        data_dir=data,
        trial_seconds=trial_seconds,
        heartbeat_seconds=0.5,
        window_seconds=window_seconds,
        rollout_tick_seconds=rollout_tick_seconds,
        canary_seconds=canary_seconds,
        metrics_listen="127.0.0.1:0",
        **config,
    )
    server = OrchestratorServer(settings, open_services(settings))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0.2)


def agent_config(
    server: OrchestratorServer | str, data_dir: Path, profile: str, token: str, **kw: Any
) -> AgentConfig:
    """For a server: its ports and CA (mTLS), or plaintext when it is insecure; for an address: insecure."""
    if isinstance(server, str):
        kw.setdefault("insecure", True)
        address = server
    elif server.tls is None:
        kw.setdefault("insecure", True)
        address = server.address
    else:
        address = server.address
        kw.setdefault("enroll_address", server.api_address)
        kw.setdefault("ca_file", server.config.tls_path / "ca.crt")
    return AgentConfig(
        orchestrator=address,
        profile=profile,
        data_dir=data_dir,
        token=token,
        backoff_initial_seconds=0.05,
        backoff_max_seconds=0.5,
        heartbeat_seconds=0.5,
        **kw,
    )


def admin_client(server: OrchestratorServer) -> AdminClient:
    """The admin client the CLI would build: TLS and the admin token, or plaintext for insecure servers."""
    if server.tls is None:
        return AdminClient(server.api_address)
    return AdminClient(server.api_address, ca_pem=server.tls.ca_pem, token=server.tls.admin_token)


@asynccontextmanager
async def agent_in_process(config: AgentConfig, **parts: Any) -> AsyncIterator[Agent]:
    """``parts``: injected into the agent (e.g. ``disk=``, a slow-filesystem disk executor)."""
    agent = Agent(config, **parts)
    task = asyncio.create_task(agent.run())
    started = asyncio.create_task(agent.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        task.result()  # it could not start: its error
    try:
        yield agent
    finally:
        agent.stop()
        await asyncio.wait_for(task, timeout=15)


async def wait_for(predicate: Callable[[], bool], *, timeout: float = 20.0, what: str = "condition") -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def push_desired(server: OrchestratorServer, assignment: Any) -> None:
    """What the Deploy RPC does after the fleet service assigned a variant: tell the connected agent."""
    server.push([assignment])


def committed(agent: Agent, variant_id: str) -> bool:
    active = agent.slots.active
    return (
        active is not None
        and active.state == "committed"
        and active.variant is not None
        and (active.variant.variant_id == variant_id)
    )


async def predict(agent: Agent, x: np.ndarray, request_id: str = "") -> inference_pb2.PredictResponse:
    address = (agent.config.data_dir / "predict.addr").read_text().strip()
    async with grpc.aio.insecure_channel(address) as channel:
        stub: Any = inference_pb2_grpc.InferenceStub(channel)
        tensor = inference_pb2.Tensor(shape=list(x.shape), dtype=str(x.dtype), data=x.tobytes())
        return await stub.Predict(
            inference_pb2.PredictRequest(input=tensor, request_id=request_id), timeout=10
        )


@contextmanager
def orchestrator_in_thread(template: Path, root: Path, **kw: Any) -> Iterator[OrchestratorServer]:
    """An in-process orchestrator on its own event loop thread, for synchronous clients (hypothesis)."""
    started: queue.Queue[OrchestratorServer | BaseException] = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        try:
            async with orchestrator_in_process(template, root, **kw) as server:
                started.put(server)
                await asyncio.to_thread(stop.wait)
        except BaseException as exc:
            started.put(exc)
            raise

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    got = started.get(timeout=60)
    if isinstance(got, BaseException):
        raise got
    try:
        yield got
    finally:
        stop.set()
        thread.join(timeout=30)


def hello_message(device_id: str, **overrides: Any) -> Any:
    """A Hello as an rpi4 agent on LiteRT sends it, for hand-made streams."""
    from edgefleet.v1 import common_pb2, control_pb2

    fields: dict[str, Any] = {
        "device_id": device_id,
        "profile": "rpi4",
        "runtime": common_pb2.RuntimeInfo(name="ai-edge-litert", version="2.3.0"),
    }
    fields.update(overrides)
    return control_pb2.AgentMessage(hello=control_pb2.Hello(**fields))


def variant_id(server: OrchestratorServer, base: str, recipe: str) -> str:
    """The id of the built reference variant ``base`` (e.g. w1.0) x ``recipe``."""
    return next(
        c.variant_id
        for c in server.services.variants.list_variants("digits")
        if (c.base_name, c.recipe) == (base, recipe)
    )


def agent_metric(agent: Agent, name: str, **labels: str) -> float:
    """The sum of an agent series over every sample carrying ``labels`` (agent series also carry the
    device's ``device`` and ``profile`` once it is enrolled)."""
    total = 0.0
    for family in agent.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


async def enrolled_and_assigned(server: Any, data_dir: Path) -> Any:
    """An agent enrolled (its identity left in ``data_dir``, the agent stopped) and a variant assigned to it;
    returns the assignment."""
    token = server.services.identity.create_token(uses=1)[0]
    async with agent_in_process(agent_config(server, data_dir, "rpi4", token)) as agent:
        await wait_for(agent.connected.is_set, what="connection")
        device_id = agent.identity.device_id  # type: ignore[union-attr]
    [a] = server.services.deployments.deploy(model="digits", device_ids=[device_id])
    return a
