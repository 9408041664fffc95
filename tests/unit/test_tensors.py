from __future__ import annotations

import numpy as np
import pytest

from edgefleet.agent.runtime.tensors import TensorSpec, spec_from_details
from edgefleet.core.errors import InvalidArgument


def int8_spec() -> TensorSpec:
    return TensorSpec("in", (1, 4), "int8", scale=0.5, zero_point=-3)


def test_quantize_uses_the_tensors_own_scale_and_zero_point() -> None:
    q = int8_spec().to_native(np.array([[0.0, 1.0, -1.0, 2.25]], dtype=np.float32))
    assert q.dtype == np.int8
    # round(x / 0.5) - 3
    assert q.tolist() == [[-3, -1, -5, 2]]


def test_quantize_saturates_at_the_dtype_limits() -> None:
    q = int8_spec().to_native(np.array([[1000.0, -1000.0, 0.0, 0.0]]))
    assert q.tolist()[0][:2] == [127, -128]


def test_dequantize_inverts_quantize_within_half_a_step() -> None:
    spec = int8_spec()
    x = np.linspace(-30, 30, 4 * 25, dtype=np.float32).reshape(25, 4)
    back = spec.to_float(spec.to_native(x))
    assert np.max(np.abs(back - x)) <= spec.scale / 2 + 1e-6


def test_native_integer_input_passes_through_untouched() -> None:
    raw = np.array([[1, 2, 3, 4]], dtype=np.int8)
    assert int8_spec().to_native(raw) is raw


def test_float_tensor_is_not_dequantized() -> None:
    spec = TensorSpec("out", (1, 2), "float32")
    assert not spec.quantized
    assert spec.to_float(np.array([[0.25, 0.75]], dtype=np.float32)).tolist() == [[0.25, 0.75]]


def test_wrong_sample_shape_names_the_expected_shape() -> None:
    with pytest.raises(InvalidArgument, match=r"does not match the model's input 'in' \[1, 4\]"):
        int8_spec().check_batch(np.zeros((2, 5)))


def test_spec_from_litert_details() -> None:
    spec = spec_from_details(
        {
            "name": "x",
            "shape": np.array([1, 8, 8, 1]),
            "dtype": np.int8,
            "quantization_parameters": {"scales": np.array([0.1]), "zero_points": np.array([4])},
        }
    )
    assert spec == TensorSpec("x", (1, 8, 8, 1), "int8", scale=pytest.approx(0.1), zero_point=4)
