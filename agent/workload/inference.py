"""Predict and Feedback, whatever the transport: the gRPC Inference API (on the event loop) and the local
socket (on its own threads) are both thin protobuf edges over this service.

A Predict's answer is remembered (the last 10,000) so that a Feedback with late ground truth can say which
of its predictions were right; the memory is shared by both transports, so it is guarded by a lock.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgefleet.agent.workload.engine import Engine, Prediction
from edgefleet.core.errors import InvalidArgument, NotFound

__all__ = ["Answer", "InferenceService"]

_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class Answer:
    request_id: str
    prediction: Prediction
    #: The class names of the variant that answered (its bundle's labels; empty when it has none).
    labels: Sequence[str]


@dataclass(frozen=True, slots=True)
class _Answered:
    """What a Predict answered, kept for its Feedback."""

    classes: npt.NDArray[np.int64]
    #: How many classes the model scores (a label must be below it).
    num_classes: int


def _finite(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise InvalidArgument("input contains NaN or infinite values")
    return x


class InferenceService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._recent: OrderedDict[str, _Answered] = OrderedDict()
        self._lock = threading.Lock()

    async def predict(self, x: npt.NDArray[Any], request_id: str = "") -> Answer:
        return self._remember(request_id, await self.engine.predict(_finite(x)))

    def predict_inline(self, x: npt.NDArray[Any], request_id: str = "") -> Answer:
        """``predict`` on the calling thread (a local-socket connection's, never the event loop)."""
        return self._remember(request_id, self.engine.predict_inline(_finite(x)))

    def _remember(self, request_id: str, prediction: Prediction) -> Answer:
        request_id = request_id or os.urandom(16).hex()
        num_classes = int(prediction.scores.reshape(len(prediction.scores), -1).shape[1])
        with self._lock:
            self._recent[request_id] = _Answered(prediction.classes, num_classes)
            while len(self._recent) > _REMEMBERED:
                self._recent.popitem(last=False)
        current = self.engine.current
        labels = current.bundle.manifest.labels if current else ()
        return Answer(request_id, prediction, labels)

    def feedback(self, request_id: str, labels: Sequence[int]) -> list[bool]:
        """Which of the request's predictions were right; the request id is spent only when the labels
        are taken (a refused Feedback can be corrected and sent again)."""
        with self._lock:
            answered = self._recent.get(request_id)
            if answered is None:
                raise NotFound(f"unknown or expired request id {request_id[:64]!r}")
            if len(labels) != len(answered.classes):
                raise InvalidArgument(f"{len(labels)} labels for {len(answered.classes)} predictions")
            if outside := sorted({int(y) for y in labels if y >= answered.num_classes}):
                raise InvalidArgument(
                    f"label(s) {outside[:10]} outside the model's classes "
                    f"0-{answered.num_classes - 1}: nothing was recorded"
                )
            del self._recent[request_id]
        correct = [int(c) == int(y) for c, y in zip(answered.classes, labels, strict=True)]
        self.engine.stats.record_labels(sum(correct), len(correct))
        return correct
