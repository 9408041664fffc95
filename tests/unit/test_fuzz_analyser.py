"""Fuzzing the .tflite analyser with mutated and truncated real models (hypothesis).

Whatever the bytes, ``analyse`` returns facts or raises an edgefleet error naming the file; it never
raises anything else and never takes the process down (the runtime probes run in an isolated helper:
without it, a mutated model killed the process with SIGSEGV/SIGFPE inside TFLite Micro).
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgefleet.core.errors import EdgefleetError
from edgefleet.orchestrator.reference import reference_family
from edgefleet.orchestrator.variants.analyser import analyse


@functools.cache
def _model() -> bytes:
    return reference_family().models[0].path.read_bytes()


mutations = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=255)),
    min_size=1,
    max_size=24,
)


def _mutate(edits: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(_model())
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=mutations, cut=st.none() | st.integers(min_value=0, max_value=20_000))
def test_mutated_models_are_refused_or_analysed(edits: list[tuple[int, int]], cut: int | None) -> None:
    message = ""
    try:
        facts = analyse(_mutate(edits, cut), source="fuzzed.tflite")
    except EdgefleetError as exc:
        message = exc.message
    if message:
        assert "fuzzed.tflite" in message
    else:
        assert facts.total_macs >= 0


def test_the_known_crashing_model_is_refused_and_the_next_one_works() -> None:
    from pathlib import Path

    crash = (Path(__file__).parents[1] / "data" / "tflm_crash.tflite").read_bytes()
    with pytest.raises(EdgefleetError, match="crashed the runtime"):
        analyse(crash, source="crash.tflite")
    assert analyse(_model(), source="good.tflite").tflm_arena is not None
