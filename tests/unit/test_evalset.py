from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from edgefleet.core.errors import InvalidArgument
from edgefleet.core.evalset import load_eval_set


def npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_round_trip_keeps_samples_labels_and_names() -> None:
    x = np.random.default_rng(0).random((5, 3, 3, 1), dtype=np.float32)
    y = np.array([0, 1, 2, 1, 0])
    loaded = load_eval_set(npz(x=x, y=y, labels=np.array(["a", "b", "c"])))
    again = load_eval_set(loaded.to_npz_bytes())
    assert np.array_equal(again.x, x)
    assert again.y.tolist() == y.tolist()
    assert again.labels == ("a", "b", "c")
    assert again.sample_shape == (3, 3, 1)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((0, 4)), "y": np.zeros(0, dtype=int)}, "empty"),
        ({"x": np.zeros((3, 4))}, r"missing array\(s\) \['y'\]"),
        ({"x": np.zeros((3, 4)), "y": np.zeros(2, dtype=int)}, "'y' has shape \\[2\\] but 'x' has 3 samples"),
        ({"x": np.zeros((2, 4)), "y": np.array([0.5, 1.0])}, "integer class labels"),
        ({"x": np.array([[np.nan, 0.0]]), "y": np.array([0])}, "NaN"),
        ({"x": np.zeros(3), "y": np.zeros(3, dtype=int)}, "must be \\[samples, ...\\]"),
        (
            {"x": np.zeros((2, 2)), "y": np.array([0, 5]), "labels": np.array(["a", "b"])},
            "label 5 has no name",
        ),
    ],
)
def test_bad_sets_are_refused_with_the_file_name(arrays: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as info:
        load_eval_set(npz(**arrays), source="bad.npz")
    assert info.value.message.startswith("bad.npz: ")


def test_not_an_npz(tmp_path: Path) -> None:
    path = tmp_path / "eval.npz"
    path.write_bytes(b"definitely not a zip")
    with pytest.raises(InvalidArgument, match=f"{path}: not a readable .npz"):
        load_eval_set(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no such evaluation set file"):
        load_eval_set(tmp_path / "nope.npz")
