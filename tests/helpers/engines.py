"""An inference engine serving a real bundle (a reference model and its samples), without an agent."""

from __future__ import annotations

from pathlib import Path

from edgefleet.agent.runtime import load_model
from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.workload.engine import Engine
from edgefleet.core.bundle import Manifest, write_bundle
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.registry.artifacts import sha256_hex

__all__ = ["serving_engine"]


async def serving_engine(tmp_path: Path, model: bytes, samples: EvalSet, *, threads: int = 1) -> Engine:
    """An engine with ``model`` (float32 digits) loaded from a bundle in ``tmp_path`` and serving."""
    expected = tuple(int(c) for c in load_model(model).classify(samples.x))
    manifest = Manifest(sha256_hex(model), "digits", "fp32", "w1.0", samples.labels, expected, 0.9)
    path = tmp_path / "bundle.tar"
    path.write_bytes(write_bundle(manifest, model, samples))
    engine = Engine(threads=threads)
    variant = VariantInfo(sha256_hex(model), "digits", "fp32", "w1.0")
    engine.serve(await engine.load("a", path, variant, "litert"))
    return engine
