"""Models a runtime cannot load give a clear error with the runtime's own message, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgefleet.agent.runtime import load_model
from edgefleet.core.errors import InvalidArgument, ModelLoadError
from edgefleet.orchestrator.reference import ReferenceFamily


@pytest.fixture
def good(family: ReferenceFamily) -> bytes:
    return family.models[0].path.read_bytes()


@pytest.mark.parametrize("runtime", ["litert", "tflite-micro"])
@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b"\x00" * 64 + b"not a model" * 20, id="garbage"),
        pytest.param(lambda b: b[:-32], id="tail-cut"),
    ],
)
def test_corrupt_models_are_refused(tmp_path: Path, good: bytes, runtime: str, mangle) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.tflite"
    path.write_bytes(mangle(good))
    with pytest.raises(ModelLoadError, match="not a valid") as info:
        load_model(path, runtime=runtime)  # type: ignore[arg-type]
    assert str(path) in info.value.message


def test_empty_model_bytes() -> None:
    with pytest.raises(ModelLoadError, match="empty model"):
        load_model(b"")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no such model file"):
        load_model(tmp_path / "absent.tflite")


def test_hybrid_model_is_refused_by_tflite_micro_with_its_reason(family: ReferenceFamily) -> None:
    from ai_edge_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(str(family.models[0].path))
    qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    hybrid = qt.quantize().quantized_model
    assert load_model(hybrid).predict  # LiteRT runs hybrid models
    with pytest.raises(ModelLoadError, match="Hybrid models are not supported on TFLite Micro"):
        load_model(hybrid, runtime="tflite-micro", source="hybrid.tflite")


def test_unknown_runtime(good: bytes) -> None:
    with pytest.raises(InvalidArgument, match="unknown runtime 'onnx'"):
        load_model(good, runtime="onnx")  # type: ignore[arg-type]
