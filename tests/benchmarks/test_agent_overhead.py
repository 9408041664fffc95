"""Agent overhead, measured side by side in one run on the same variant and thread count.

- Predict p50/p95 through the local Inference API with the client in another process (issue 19 item 2:
  overhead goal <= 150 µs over a direct invoke), over loopback TCP and over a unix socket, interleaved with
  its floors timed by the same client: a minimal grpc.aio unary echo (no edgefleet code) on the same two
  transports, and a blocking unix-socket echo; also the client in the same process, as before;
- replay throughput through the agent's engine against a bare interpreter loop, 7 interleaved rounds
  (goal: >= 0.97, every round printed).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from edgefleet.agent.runtime import load_model
from edgefleet.agent.workload.predict import InferenceServer
from edgefleet.agent.workload.replay import replay
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.reference import ReferenceFamily
from edgefleet.v1 import inference_pb2, inference_pb2_grpc
from tests.helpers.engines import serving_engine
from tests.helpers.ipc_floor import ECHO_METHOD, echo_server, round_trips, unix_echo

N = 2000
PREDICT = "/edgefleet.v1.Inference/Predict"
#: Interleaved rounds of the out-of-process round trips (median of their p50s is reported).
IPC_ROUNDS = 3


def _pct(samples: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.array(samples) * 1e6, [50, 95])
    return float(p50), float(p95)


async def _run(tmp_path: Path, family: ReferenceFamily, evalset: EvalSet) -> dict[str, Any]:
    model_bytes = family.models[1].path.read_bytes()
    samples = evalset.head(64)
    engine = await serving_engine(tmp_path, model_bytes, samples)
    server = InferenceServer(engine, "127.0.0.1:0")
    address = await server.start()
    direct = load_model(model_bytes, threads=1)
    x = samples.x[:1]
    native = direct.input.to_native(x)

    direct_times = []
    for _ in range(N):
        t0 = time.perf_counter()
        direct.invoke_raw(native)
        direct_times.append(time.perf_counter() - t0)

    # the client in another process: Predict and its floors, interleaved, over TCP and a unix socket
    unix_server = InferenceServer(engine, f"unix:{tmp_path}/predict.sock", tmp_path / "local.sock")
    unix_address = await unix_server.start()
    payload = inference_pb2.PredictRequest(
        input=inference_pb2.Tensor(shape=list(x.shape), dtype="float32", data=x.tobytes())
    ).SerializeToString()
    ipc: dict[str, list[tuple[float, float]]] = {}
    with (
        echo_server("127.0.0.1:0") as (echo_tcp, echo_tcp_address),
        echo_server(f"unix:{tmp_path}/echo.sock") as (echo_unix, echo_unix_address),
        unix_echo(tmp_path / "plain.sock") as plain,
    ):
        await echo_tcp.start()
        await echo_unix.start()
        targets = {
            "Predict, TCP loopback": ("grpc", address, PREDICT),
            "Predict, unix socket": ("grpc", unix_address, PREDICT),
            "Predict, local socket (framed protobuf)": ("local", str(tmp_path / "local.sock"), ""),
            "grpc.aio echo, TCP loopback": ("grpc", echo_tcp_address, ECHO_METHOD),
            "grpc.aio echo, unix socket": ("grpc", echo_unix_address, ECHO_METHOD),
            "plain unix-socket echo": ("unix", plain, ""),
        }
        for _ in range(IPC_ROUNDS):
            for name, (mode, where, method) in targets.items():
                ipc.setdefault(name, []).append(_pct(await round_trips(mode, where, method, payload, N)))
        await echo_tcp.stop(None)
        await echo_unix.stop(None)
    await unix_server.stop()

    api_times = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub: Any = inference_pb2_grpc.InferenceStub(channel)
        request = inference_pb2.PredictRequest(
            input=inference_pb2.Tensor(shape=list(x.shape), dtype="float32", data=x.tobytes())
        )
        for _ in range(50):
            await stub.Predict(request)
        for _ in range(N):
            t0 = time.perf_counter()
            await stub.Predict(request)
            api_times.append(time.perf_counter() - t0)

    # a bare interpreter loop doing the same work: pre-quantized samples, invoke, arg-max, compare
    # interleaved rounds, best of each: a noisy neighbour on this shared machine hits one round, not the ratio
    all_native = direct.input.to_native(samples.x)
    # per wall second, and per second of this process's CPU time (steadier on a shared machine)
    bare_rates: list[tuple[float, float]] = []
    replay_rates: list[tuple[float, float]] = []
    for _ in range(ROUNDS):
        correct = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(REPLAY_N):
            j = i % len(samples)
            correct += int(np.argmax(direct.invoke_raw(all_native[j : j + 1])) == samples.y[j])
        bare_rates.append((REPLAY_N / (time.perf_counter() - t0), REPLAY_N / (time.process_time() - c0)))
        t0, c0 = time.perf_counter(), time.process_time()
        done = await replay(engine, float("inf"), asyncio.Event(), limit=REPLAY_N)
        replay_rates.append((done / (time.perf_counter() - t0), done / (time.process_time() - c0)))
    await server.stop()
    engine.close()
    return {
        "direct": _pct(direct_times),
        "api": _pct(api_times),
        "ipc": ipc,
        "bare_rates": bare_rates,
        "replay_rates": replay_rates,
    }


ROUNDS = 7
#: Inferences per replay round (and per bare-loop round).
REPLAY_N = 5000


def test_agent_overhead(tmp_path: Path, family: ReferenceFamily, evalset: EvalSet) -> None:
    load = os.getloadavg()[0]
    r = asyncio.run(_run(tmp_path, family, evalset))
    (d50, d95), (a50, a95) = r["direct"], r["api"]
    print(
        f"\nagent overhead, digits_w1.0 fp32, 1 thread, {N} calls each; load average {load:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print(f"  direct invoke                               p50 {d50:8.1f} µs  p95 {d95:8.1f} µs")
    print(
        f"  Predict, client in the same process (TCP)   p50 {a50:8.1f} µs  p95 {a95:8.1f} µs  "
        f"overhead p50 +{a50 - d50:.1f} µs"
    )
    print(f"  client in another process, median of {IPC_ROUNDS} interleaved rounds (p50s of each round):")
    for name, rounds in r["ipc"].items():
        p50 = statistics.median(p for p, _ in rounds)
        p95 = statistics.median(p for _, p in rounds)
        extra = f"  overhead p50 +{p50 - d50:.1f} µs (goal <= 150)" if name.startswith("Predict") else ""
        print(
            f"  {name:42s}  p50 {p50:8.1f} µs  p95 {p95:8.1f} µs{extra}   rounds: "
            + " ".join(f"{p:.0f}" for p, _ in rounds)
        )
    for k, unit in ((0, "wall"), (1, "CPU")):
        bare = [v[k] for v in r["bare_rates"]]
        rep = [v[k] for v in r["replay_rates"]]
        ratios = [a / b for a, b in zip(rep, bare, strict=True)]
        print(
            f"  per {unit:4s} second: bare loop {statistics.median(bare):7.0f}, replay {statistics.median(rep):7.0f} "
            f"inferences/s (medians of {ROUNDS} interleaved rounds); replay / bare median "
            f"{statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f} (goal >= 0.97); "
            "rounds: " + " ".join(f"{v:.3f}" for v in ratios)
        )
    assert min(v[0] for v in r["replay_rates"]) > 0
