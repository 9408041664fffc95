"""Labelled sample sets (.npz with ``x``, ``y`` and optional ``labels``).

The same format carries a family's evaluation set on the orchestrator and the
self-test samples bundled with a variant on a device.
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgefleet.core.errors import InvalidArgument
from edgefleet.core.fsutil import read_user_file

__all__ = ["EvalSet", "Split", "check_classifier", "load_eval_set"]


@dataclass(frozen=True, slots=True, eq=False)
class EvalSet:
    #: float32 samples, or integer samples kept in their own dtype (fed to the model as they are).
    x: npt.NDArray[Any]
    y: npt.NDArray[np.int64]
    labels: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.y)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def classes(self) -> int:
        """Classes of the task: the ``labels`` array's length, or the largest label + 1."""
        return len(self.labels)

    def head(self, n: int) -> EvalSet:
        """The first ``n`` samples (eval sets are stored shuffled)."""
        return EvalSet(self.x[:n], self.y[:n], self.labels, self.source)

    def take(self, indices: npt.NDArray[np.int64], part: str) -> EvalSet:
        return EvalSet(self.x[indices], self.y[indices], self.labels, f"{self.source} ({part})")

    def split(self) -> Split:
        """Two disjoint halves, fixed by the samples' content (not their order): within each class the
        samples are ordered by the SHA-256 of their bytes and alternate between scoring and calibration
        (a class with one sample goes to scoring). Calibration only calibrates static recipes; host accuracy,
        the samples shipped to devices and device accuracy all use the scoring half, so no variant is
        scored on a sample it was calibrated on, and every figure of a family is on the same samples."""
        scoring: list[int] = []
        calibration: list[int] = []
        for label in sorted(set(self.y.tolist())):
            members = np.flatnonzero(self.y == label)
            ordered = sorted(members.tolist(), key=lambda i: hashlib.sha256(self.x[i].tobytes()).digest())
            for rank, index in enumerate(ordered):
                (scoring if rank % 2 == 0 else calibration).append(index)
        return Split(
            self.take(np.asarray(sorted(calibration), dtype=np.int64), "calibration split"),
            self.take(np.asarray(sorted(scoring), dtype=np.int64), "scoring split"),
        )

    def to_npz_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, x=self.x, y=self.y, labels=np.array(self.labels))
        return buf.getvalue()


@dataclass(frozen=True, slots=True, eq=False)
class Split:
    calibration: EvalSet
    scoring: EvalSet


def load_eval_set(data: Path | bytes, *, source: str = "") -> EvalSet:
    """Load and validate; every error names the file and what is wrong with it."""
    where = source or (str(data) if isinstance(data, Path) else "<eval set>")
    raw = read_user_file(data, "evaluation set") if isinstance(data, Path) else data
    if not raw.startswith(b"PK"):  # np.load would take a .npy, or try to unpickle anything else
        raise InvalidArgument(f"{where}: not a readable .npz evaluation set (not a zip archive of arrays)")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise InvalidArgument(f"{where}: not a readable .npz evaluation set ({exc})") from exc
        # numpy's advice (allow_pickle=True) would run code from the file: never taken here
        raise InvalidArgument(
            f"{where}: not a readable .npz evaluation set (it holds Python objects; only plain numeric "
            "or string arrays are read)"
        ) from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InvalidArgument(f"{where}: not a readable .npz evaluation set ({exc})") from exc
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise InvalidArgument(f"{where}: missing array(s) {missing}; expected 'x' (samples) and 'y' (labels)")
    x, y = arrays["x"], arrays["y"]
    if x.ndim < 2:
        raise InvalidArgument(f"{where}: 'x' must be [samples, ...], got shape {list(x.shape)}")
    if len(x) == 0:
        raise InvalidArgument(f"{where}: the evaluation set is empty (0 samples)")
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or len(y) != len(x):
        raise InvalidArgument(f"{where}: 'y' has shape {list(y.shape)} but 'x' has {len(x)} samples")
    if y.dtype.kind not in "iu":
        raise InvalidArgument(f"{where}: 'y' must hold integer class labels, got dtype {y.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise InvalidArgument(f"{where}: 'x' contains NaN or infinite values")
    if y.min() < 0:
        raise InvalidArgument(f"{where}: 'y' contains negative labels")
    labels: tuple[str, ...]
    if "labels" in arrays:
        labels = tuple(str(s) for s in arrays["labels"].reshape(-1))
        if int(y.max()) >= len(labels):
            raise InvalidArgument(f"{where}: label {int(y.max())} has no name ({len(labels)} labels given)")
    else:
        labels = tuple(str(i) for i in range(int(y.max()) + 1))
    x = x if x.dtype.kind in "iu" else x.astype(np.float32, copy=False)
    return EvalSet(x, y.astype(np.int64), labels, where)


def check_classifier(output_shape: tuple[int, ...], evalset: EvalSet, *, model: str) -> None:
    """edgefleet evaluates classifiers: accuracy is the argmax of one score per class. A model whose output
    per sample (``output_shape``, the batch dimension dropped) is not one score per class of ``evalset``
    (an autoencoder's reconstruction, a regression) would be scored as nonsense: refused, naming both."""
    scores = math.prod(output_shape)
    if scores == evalset.classes:
        return
    raise InvalidArgument(
        f"{model} outputs {scores} values per sample (shape {list(output_shape)}), not one score for each "
        f"of the {evalset.classes} classes of {evalset.source}: edgefleet evaluates classifiers only "
        "(accuracy = argmax of the scores); if some classes have no sample, name them all in 'labels'"
    )
