"""Agent overhead, measured side by side in one run on the same variant and thread count.

- Predict p50/p95 through the local Inference API (gRPC on loopback, client in the same process)
  against invoking the interpreter directly;
- replay throughput through the agent's engine against a bare interpreter loop (goal: >= 0.95).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from edgefleet.agent.runtime import load_model
from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.workload.engine import Engine
from edgefleet.agent.workload.predict import InferenceServer
from edgefleet.agent.workload.replay import replay
from edgefleet.core.bundle import Manifest, write_bundle
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.reference import ReferenceFamily
from edgefleet.orchestrator.registry.artifacts import sha256_hex
from edgefleet.v1 import inference_pb2, inference_pb2_grpc

N = 2000


def _bundle(tmp_path: Path, model: bytes, samples: EvalSet) -> Path:
    expected = tuple(int(c) for c in load_model(model).classify(samples.x))
    manifest = Manifest(sha256_hex(model), "digits", "fp32", "w1.0", samples.labels, expected, 0.9)
    path = tmp_path / "bundle.tar"
    path.write_bytes(write_bundle(manifest, model, samples))
    return path


def _pct(samples: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.array(samples) * 1e6, [50, 95])
    return float(p50), float(p95)


async def _run(tmp_path: Path, family: ReferenceFamily, evalset: EvalSet) -> dict[str, Any]:
    model_bytes = family.models[1].path.read_bytes()
    samples = evalset.head(64)
    engine = Engine(threads=1)
    variant = VariantInfo(sha256_hex(model_bytes), "digits", "fp32", "w1.0")
    engine.serve(await engine.load("a", _bundle(tmp_path, model_bytes, samples), variant, "litert"))
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
    bare_rate = replay_rate = 0.0
    for _ in range(ROUNDS):
        correct = 0
        t0 = time.perf_counter()
        for i in range(N):
            j = i % len(samples)
            correct += int(np.argmax(direct.invoke_raw(all_native[j : j + 1])) == samples.y[j])
        bare_rate = max(bare_rate, N / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        done = await replay(engine, float("inf"), asyncio.Event(), limit=N)
        replay_rate = max(replay_rate, done / (time.perf_counter() - t0))
    await server.stop()
    engine.close()
    return {
        "direct": _pct(direct_times),
        "api": _pct(api_times),
        "bare_rate": bare_rate,
        "replay_rate": replay_rate,
    }


ROUNDS = 7


def test_agent_overhead(tmp_path: Path, family: ReferenceFamily, evalset: EvalSet) -> None:
    r = asyncio.run(_run(tmp_path, family, evalset))
    (d50, d95), (a50, a95) = r["direct"], r["api"]
    print(f"\nagent overhead, digits_w1.0 fp32, 1 thread, {N} calls each")
    print(f"  direct invoke        p50 {d50:8.1f} µs  p95 {d95:8.1f} µs")
    print(
        f"  Predict (local gRPC) p50 {a50:8.1f} µs  p95 {a95:8.1f} µs  overhead p50 +{a50 - d50:.1f} µs ({a50 / d50:.1f}x)"
    )
    print(f"  bare loop   {r['bare_rate']:9.0f} inferences/s")
    print(
        f"  replay      {r['replay_rate']:9.0f} inferences/s  ratio {r['replay_rate'] / r['bare_rate']:.2f} (goal >= 0.95)"
    )
    assert r["replay_rate"] > 0
