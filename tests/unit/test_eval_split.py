"""Calibration and scoring samples never overlap, and the split does not depend on the set's order."""

from __future__ import annotations

import numpy as np

from edgefleet.core.evalset import EvalSet


def test_the_reference_split_is_disjoint_complete_and_stratified(evalset: EvalSet) -> None:
    split = evalset.split()
    calibration = {x.tobytes() for x in split.calibration.x}
    scoring = {x.tobytes() for x in split.scoring.x}
    assert calibration.isdisjoint(scoring)
    assert len(split.calibration) + len(split.scoring) == len(evalset)
    for label in range(10):  # every class on both sides, about half each
        c, s = int((split.calibration.y == label).sum()), int((split.scoring.y == label).sum())
        assert abs(c - s) <= 1
        assert s >= 1


def test_the_split_follows_content_not_order(evalset: EvalSet) -> None:
    order = np.random.default_rng(7).permutation(len(evalset))
    shuffled = EvalSet(evalset.x[order], evalset.y[order], evalset.labels, "shuffled")
    first, second = evalset.split().scoring, shuffled.split().scoring
    assert {x.tobytes() for x in first.x} == {x.tobytes() for x in second.x}


def test_a_class_with_one_sample_is_scored() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    split = EvalSet(x, np.array([0, 0, 1]), ("a", "b"), "tiny").split()
    assert 1 in split.scoring.y.tolist()
