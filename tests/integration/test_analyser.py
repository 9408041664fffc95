"""The analyser on models whose figures are computed by hand (and cross-checked with TFLite Micro)."""

from __future__ import annotations

import pytest

from edgefleet.core.errors import InvalidArgument, ModelLoadError
from edgefleet.orchestrator.variants.analyser import analyse
from edgefleet.orchestrator.variants.builder import build_variant
from edgefleet.orchestrator.variants.opcodes import normalise_opcodes
from edgefleet.orchestrator.variants.recipes import RECIPES
from edgefleet.orchestrator.variants.signatures import ensure_signature, strip_signatures
from tests.helpers.tflite_builder import conv_fc_model, depthwise_model


def test_conv_fc_model_by_hand() -> None:
    facts = analyse(conv_fc_model(), source="conv_fc")
    # CONV_2D: out 4*4*3 x kh*kw*cin 3*3*2 = 864; FC: 5 outputs x 48 inputs = 240.
    assert facts.macs == {"conv": 864, "depthwise": 0, "fully_connected": 240, "other": 0}
    assert facts.total_macs == 1104
    # conv 3*3*3*2 + 3 bias; fc 5*48 + 5 bias
    assert facts.parameters == 54 + 3 + 240 + 5
    assert facts.weight_bytes == facts.parameters * 4
    # x (128 B) and h (192 B) are live together at the conv; h and y (20 B) at the FC.
    assert facts.max_live_bytes == 320
    assert facts.peak_activation_bytes == 320
    assert facts.ops == ("CONV_2D", "FULLY_CONNECTED")
    assert facts.tensor_dtypes == {"float32": 7}
    assert (facts.hybrid, facts.full_integer, facts.compute_dtype) == (False, False, "float32")
    assert facts.has_signature
    assert facts.tflm_arena is not None
    assert facts.tflm_arena.head == 320  # TFLM's own planner agrees


def test_operator_codes_only_in_the_deprecated_field_are_read_as_the_real_ops() -> None:
    """Older converters' output: builtin_code is 0 (ADD), deprecated_builtin_code holds the op."""
    legacy = conv_fc_model(legacy_opcodes=True)
    assert legacy != conv_fc_model()
    facts = analyse(legacy, source="legacy")
    assert facts.ops == ("CONV_2D", "FULLY_CONNECTED")
    assert facts.macs == analyse(conv_fc_model(), source="modern").macs
    normalised, changed = normalise_opcodes(legacy)
    assert changed
    assert analyse(normalised, source="normalised").ops == facts.ops
    assert normalise_opcodes(conv_fc_model()) == (conv_fc_model(), False)  # nothing to do: same bytes


def test_depthwise_pool_model_by_hand() -> None:
    facts = analyse(depthwise_model(), source="dw")
    # 1x1 conv: 144 outputs x 2; depthwise 3x3: 64 outputs x 9; max-pool 2x2: 16 outputs x 4; FC 3 x 16.
    assert facts.macs == {"conv": 288, "depthwise": 576, "fully_connected": 48, "other": 64}
    assert facts.parameters == (8 + 4) + (36 + 4) + (48 + 3)
    # x 288 B + a 576 B live at the first conv.
    assert facts.peak_activation_bytes == facts.max_live_bytes == 864
    assert facts.tflm_arena is not None
    assert facts.tflm_arena.head == 864


def test_hybrid_detection_and_tflm_refusal() -> None:
    base = conv_fc_model()
    dynamic = build_variant(RECIPES["dynamic_wi8_afp32"], base).data
    facts = analyse(dynamic, source="dyn")
    assert facts.hybrid
    assert not facts.full_integer
    assert facts.compute_dtype == "int8"
    assert facts.tensor_dtypes["int8"] >= 2
    assert facts.tflm_arena is None
    assert "Hybrid models are not supported on TFLite Micro" in facts.tflm_refusal
    # Same graph, same work: MACs do not depend on dtypes.
    assert facts.macs == analyse(base).macs


def test_weight_only_is_not_hybrid() -> None:
    data = build_variant(RECIPES["weight_only_wi8_afp32"], conv_fc_model()).data
    facts = analyse(data)
    assert not facts.hybrid
    assert facts.compute_dtype == "float32"
    assert "DEQUANTIZE" in facts.ops
    # DEQUANTIZE of constants runs once at load: no per-inference MACs added.
    assert facts.total_macs == 1104


def test_file_name_is_never_trusted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = build_variant(RECIPES["dynamic_wi8_afp32"], conv_fc_model()).data
    liar = tmp_path / "model_float32.tflite"
    liar.write_bytes(data)
    assert analyse(liar.read_bytes(), source=str(liar)).hybrid


def test_signature_is_reported_and_can_be_added() -> None:
    bare = strip_signatures(conv_fc_model())
    assert not analyse(bare).has_signature
    fixed, added = ensure_signature(bare)
    assert added
    assert analyse(fixed).has_signature
    assert ensure_signature(fixed) == (fixed, False)


def test_not_a_flatbuffer_names_the_file() -> None:
    with pytest.raises(InvalidArgument, match=r"notes\.txt: not a TFLite flatbuffer"):
        analyse(b"these are my notes, not a model", source="notes.txt")


def test_truncated_model_names_the_file() -> None:
    data = conv_fc_model()
    with pytest.raises((InvalidArgument, ModelLoadError), match=r"half\.tflite"):
        analyse(data[: len(data) // 2], source="half.tflite")
