"""Every reference model loads through the runtime wrapper and scores what the training script recorded."""

from __future__ import annotations

import numpy as np
import pytest

from edgefleet.agent.runtime import RuntimeName, load_model
from edgefleet.agent.runtime.measure import measure_accuracy, measure_latency
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.reference import ReferenceFamily


def test_family_metadata_is_consistent(family: ReferenceFamily, evalset: EvalSet) -> None:
    assert family.model == "digits"
    assert [m.width for m in family.models] == [0.5, 1.0, 2.0]
    assert len(evalset) == 360
    assert evalset.labels == tuple(str(d) for d in range(10))
    assert sorted(set(evalset.y.tolist())) == list(range(10))
    # Wider models have more parameters.
    params = [m.parameters for m in family.models]
    assert params == sorted(params)
    assert len(set(params)) == 3


@pytest.mark.parametrize("runtime", ["litert", "tflite-micro"])
def test_every_reference_model_matches_its_recorded_accuracy(
    family: ReferenceFamily, evalset: EvalSet, runtime: RuntimeName
) -> None:
    for ref in family.models:
        model = load_model(ref.path, runtime=runtime)
        assert model.input.shape == (1, 32, 32, 1)
        assert model.input.dtype == "float32"
        acc = measure_accuracy(model, evalset.x, evalset.y)
        assert acc.total == len(evalset)
        # The figure was recorded with LiteRT; allow one sample of float-rounding difference.
        assert abs(acc.value - ref.recorded_accuracy) <= 1 / len(evalset) + 1e-9, ref.name
        assert acc.value > 0.9, ref.name


def test_predict_handles_any_batch_size(family: ReferenceFamily, evalset: EvalSet) -> None:
    model = load_model(family.models[1].path)
    batch = model.predict(evalset.x[:7])
    assert batch.shape == (7, 10)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, rtol=1e-4)  # softmax output
    one_by_one = np.concatenate([model.predict(evalset.x[i : i + 1]) for i in range(7)])
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-6)
    assert model.predict(evalset.x[:0]).shape == (0, 10)


def test_latency_is_measured_per_invoke(family: ReferenceFamily, evalset: EvalSet) -> None:
    model = load_model(family.models[0].path, threads=1)
    lat = measure_latency(model, evalset.x[0], runs=50, warmup=5)
    assert lat.runs == 50
    assert 0 < lat.p50 <= lat.p95 <= lat.p99


def test_tflm_reports_its_arena(family: ReferenceFamily) -> None:
    from edgefleet.agent.runtime import MicroModel

    narrow, _, wide = (load_model(m.path, runtime="tflite-micro") for m in family.models)
    assert isinstance(narrow, MicroModel)
    assert isinstance(wide, MicroModel)
    a, b = narrow.arena(), wide.arena()
    assert a.total == a.head + a.tail
    # float32 activations: the 16x16 layer of the wide model alone is 16*16*64*4 bytes.
    assert b.head >= 16 * 16 * 64 * 4
    assert b.head > a.head
