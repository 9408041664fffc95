from __future__ import annotations

import pytest

from edgefleet.orchestrator.energy.opcount import PJ, estimate_ops_energy


def test_table_one_constants_are_pinned() -> None:
    assert PJ == {
        "add_int8": 0.03,
        "add_int32": 0.1,
        "mult_int8": 0.2,
        "add_float16": 0.4,
        "add_float32": 0.9,
        "mult_float16": 1.1,
        "mult_int32": 3.1,
        "mult_float32": 3.7,
        "cache_access_32bit": 5.0,
        "dram_access_32bit": 320.0,
    }


@pytest.mark.parametrize(
    ("dtype", "pj_per_mac"), [("float32", 4.6), ("float16", 1.5), ("int8", 0.23), ("int16", 3.2)]
)
def test_compute_energy_per_mac(dtype: str, pj_per_mac: float) -> None:
    e = estimate_ops_energy(
        compute_macs=1_000_000,
        other_ops=0,
        compute_dtype=dtype,
        weight_read_bytes=0,
        activation_traffic_bytes=0,
    )
    assert e.compute_j == pytest.approx(1e6 * pj_per_mac * 1e-12)
    assert e.total_j == e.compute_j


def test_memory_energy_is_per_32_bit_access() -> None:
    e = estimate_ops_energy(
        compute_macs=0,
        other_ops=0,
        compute_dtype="int8",
        weight_read_bytes=4000,
        activation_traffic_bytes=400,
    )
    assert e.weights_j == pytest.approx(1000 * 320e-12)
    assert e.activations_j == pytest.approx(100 * 5e-12)
