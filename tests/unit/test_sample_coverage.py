"""Distinct-sample accuracy: the window bitmaps over the bundled samples (little-endian bit order, as the proto
says), a sample scored twice counted once, right only when right every time, Feedback counted apart."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgefleet.agent.workload.coverage import Coverage, SampleCoverage, pack_bits, unpack_bits
from edgefleet.agent.workload.stats import InferenceStats


def test_bit_i_is_byte_i_div_8_value_1_shl_i_mod_8() -> None:
    bits = np.zeros(20, dtype=bool)
    bits[[0, 3, 9, 19]] = True
    data = pack_bits(bits)
    assert data == bytes([0b0000_1001, 0b0000_0010, 0b0000_1000])
    assert unpack_bits(data, 20).tolist() == bits.tolist()
    assert pack_bits([]) == b""
    assert unpack_bits(b"", 3).tolist() == [False, False, False]


@given(st.lists(st.booleans(), max_size=300))
def test_pack_and_unpack_round_trip(bits: list[bool]) -> None:
    assert unpack_bits(pack_bits(bits), len(bits)).tolist() == bits


def test_repeats_count_once_and_a_sample_is_right_only_when_right_every_time() -> None:
    cov = SampleCoverage()
    cov.mark("v1", 10, [0, 1, 2, 0, 1, 2], [True, True, False, True, False, False])
    cov.mark("v1", 10, [2, 5], [False, True])
    out = cov.take()
    assert out.variant_id == "v1"
    assert unpack_bits(out.scored, 10).nonzero()[0].tolist() == [0, 1, 2, 5]
    assert unpack_bits(out.correct, 10).nonzero()[0].tolist() == [0, 5]  # 1 was wrong once, 2 always
    assert (out.scored_count, out.correct_count) == (4, 2)
    assert cov.take() == Coverage()  # the next window starts empty


def test_another_variant_starts_over() -> None:
    cov = SampleCoverage()
    cov.mark("v1", 8, [0, 1], [True, True])
    cov.mark("v2", 16, [3], [True])
    out = cov.take()
    assert (out.variant_id, out.scored_count, len(out.scored)) == ("v2", 1, 2)


def test_windows_carry_coverage_feedback_and_the_throughput_counts() -> None:
    stats = InferenceStats()
    stats.record_many([0.001] * 6, 0.01, 4, samples=("v1", 4, [0, 1, 2, 3, 0, 1], [True] * 4 + [True, False]))
    stats.record_labels(correct=1, labelled=2)  # Feedback: two new samples, one right
    stats.record_benchmark(7)
    w = stats.take_window()
    assert (w.inferences, w.labelled, w.correct) == (6, 8, 5)  # repeats and feedback included
    assert (w.coverage.scored_count, w.coverage.correct_count) == (4, 3)
    assert (w.feedback_labelled, w.feedback_correct, w.benchmark_inferences) == (2, 1, 7)
    nxt = stats.take_window()
    assert (nxt.inferences, nxt.labelled, nxt.feedback_labelled, nxt.benchmark_inferences) == (0, 0, 0, 0)
    assert nxt.coverage == Coverage()
    assert stats.totals().inferences == 6
    assert stats.totals().busy_seconds == 0.006
