"""Build compressed variants of a float base model with ai-edge-quantizer recipes."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgefleet.core.errors import InvalidArgument
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.variants.analyser import analyse_graph
from edgefleet.orchestrator.variants.graph import read_graph
from edgefleet.orchestrator.variants.opcodes import NORMALISED_NOTE, normalise_opcodes
from edgefleet.orchestrator.variants.recipes import Recipe
from edgefleet.orchestrator.variants.signatures import ensure_signature

__all__ = ["Built", "RecipeNotApplicable", "Skipped", "build_variant", "check_float_base"]

#: At most this many samples of the calibration split calibrate a static recipe.
CALIBRATION_SAMPLES = 200


class RecipeNotApplicable(Exception):
    """The recipe does not apply to this model; the message says why."""


@dataclass(frozen=True, slots=True)
class Built:
    recipe: str
    data: bytes
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Skipped:
    recipe: str
    reason: str


def check_float_base(data: bytes, *, source: str) -> None:
    facts = analyse_graph(read_graph(data, source=source))
    if facts.compute_dtype != "float32" or facts.hybrid:
        raise InvalidArgument(
            f"{source}: building variants needs a float32 base model, this one computes in "
            f"{facts.compute_dtype}{' (hybrid)' if facts.hybrid else ''}; register an already "
            "compressed model with `edgefleet variants add`"
        )


def _quiet(fn: Callable[[], Any]) -> Any:
    """ai-edge-quantizer prints progress bars and debug warnings; keep the CLI's output clean."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        return fn()


def _aeq_recipe(name: str) -> Any:
    from ai_edge_quantizer import recipe

    return getattr(recipe, name)()


def _fp16(base: bytes) -> bytes:
    from ai_edge_quantizer import qtyping, quantizer

    qt = quantizer.Quantizer(base)
    qt.update_quantization_recipe(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        algorithm_key=quantizer.AlgorithmName.FLOAT_CASTING,
        op_config=qtyping.OpQuantizationConfig(
            weight_tensor_config=qtyping.TensorQuantizationConfig(
                num_bits=16, dtype=qtyping.TensorDataType.FLOAT
            ),
            compute_precision=qtyping.ComputePrecision.FLOAT,
            explicit_dequantize=True,
        ),
    )
    return bytes(qt.quantize().quantized_model)


def _calibrated(name: str, base: bytes, samples: EvalSet, threads: int) -> tuple[bytes, tuple[str, ...]]:
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer

    with_sig, added = ensure_signature(base)
    signatures = Interpreter(model_content=with_sig).get_signature_list()
    key = next(iter(signatures))
    inputs = signatures[key]["inputs"]
    if len(inputs) != 1:
        raise RecipeNotApplicable(f"calibration supports single-input models, this one has {len(inputs)}")
    x = samples.x[:CALIBRATION_SAMPLES].astype(np.float32)
    qt = quantizer.Quantizer(with_sig)
    qt.load_quantization_recipe(_aeq_recipe(name))
    calibration = qt.calibrate({key: [{inputs[0]: s[None]} for s in x]}, num_threads=max(1, threads))
    notes = [f"calibrated on {len(x)} samples of {samples.source}"]
    if added:
        notes.append("the base had no SignatureDef: one was added for calibration")
    return bytes(qt.quantize(calibration).quantized_model), tuple(notes)


def build_variant(recipe: Recipe, base: bytes, samples: EvalSet | None = None, *, threads: int = 1) -> Built:
    """One variant. Raises RecipeNotApplicable (with the reason) when the recipe does not apply."""
    if recipe.calibrated and (samples is None or len(samples) == 0):
        raise RecipeNotApplicable(
            "needs labelled samples to calibrate on and the family has no evaluation set: give one with "
            "--eval FILE (under a new model name if this family was registered without one)"
        )
    if recipe.name == "fp32":
        return Built("fp32", base, ("the float32 base",))
    base, normalised = normalise_opcodes(base)
    notes: tuple[str, ...] = ()
    try:
        if recipe.name == "fp16":
            data = _quiet(lambda: _fp16(base))
        elif recipe.calibrated:
            assert samples is not None
            calibration_set = samples
            data, notes = _quiet(lambda: _calibrated(recipe.name, base, calibration_set, threads))
        else:

            def plain() -> bytes:
                from ai_edge_quantizer import quantizer

                qt = quantizer.Quantizer(base)
                qt.load_quantization_recipe(_aeq_recipe(recipe.name))
                return bytes(qt.quantize().quantized_model)

            data = _quiet(plain)
    except RecipeNotApplicable:
        raise
    except Exception as exc:  # the quantizer's own refusal, kept verbatim
        raise RecipeNotApplicable(f"ai-edge-quantizer failed: {type(exc).__name__}: {exc}") from exc
    before = read_graph(base).tensors
    after = read_graph(data).tensors
    if data == base or sorted(t.dtype for t in before) == sorted(t.dtype for t in after):
        raise RecipeNotApplicable("the recipe quantized no tensor of this model (no supported op)")
    return Built(recipe.name, data, ((NORMALISED_NOTE,) if normalised else ()) + notes)
