"""Operation-count energy model: E = MACs x (mult + add at the compute dtype) + bytes moved x memory cost.

Constants: Horowitz, "Computing's energy problem (and what we can do about it)",
ISSCC 2014, 45 nm CMOS, picojoules per operation, as tabulated ("Table 1") in the
Lamarr Institute's article on resource-aware ML and in DESIGN.md section 6. The
memory rows are per 32-bit access (Han et al. 2015, arXiv 1506.02626): cache
5-50 pJ, DRAM 320-640 pJ; we take the low ends.

It is a lower bound (no instruction fetch, control or static power); each device
profile scales it by a calibration factor that measurements on devices with a
sensor correct over time.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PJ", "OpCountEstimate", "estimate_ops_energy"]

#: Picojoules per operation (Horowitz, ISSCC 2014, 45 nm).
PJ: dict[str, float] = {
    "add_int8": 0.03,
    "add_int32": 0.1,
    "mult_int8": 0.2,
    "add_float16": 0.4,
    "add_float32": 0.9,
    "mult_float16": 1.1,
    "mult_int32": 3.1,
    "mult_float32": 3.7,
    # Per 32-bit access (low ends of the 5-50 and 320-640 ranges).
    "cache_access_32bit": 5.0,
    "dram_access_32bit": 320.0,
}

# int16 has no row of its own: costed as 32-bit integer (an upper bound for 16-bit).
_MAC_DTYPE = {"int8": "int8", "int16": "int32", "int32": "int32", "float16": "float16", "float32": "float32"}


@dataclass(frozen=True, slots=True)
class OpCountEstimate:
    """Joules per inference, split by where the energy goes."""

    compute_j: float
    weights_j: float
    activations_j: float

    @property
    def total_j(self) -> float:
        return self.compute_j + self.weights_j + self.activations_j


def estimate_ops_energy(
    *,
    compute_macs: int,
    other_ops: int,
    compute_dtype: str,
    weight_read_bytes: int,
    activation_traffic_bytes: int,
) -> OpCountEstimate:
    """Weights stream from DRAM once per inference; activations move through cache."""
    dtype = _MAC_DTYPE.get(compute_dtype, "float32")
    mac_pj = PJ[f"mult_{dtype}"] + PJ[f"add_{dtype}"]
    compute_pj = compute_macs * mac_pj + other_ops * PJ[f"add_{dtype}"]
    weights_pj = weight_read_bytes / 4 * PJ["dram_access_32bit"]
    activations_pj = activation_traffic_bytes / 4 * PJ["cache_access_32bit"]
    return OpCountEstimate(compute_pj * 1e-12, weights_pj * 1e-12, activations_pj * 1e-12)
