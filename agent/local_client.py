"""A client of the agent's local socket (``local_socket`` in the agent's configuration): Predict and
Feedback with the Inference API's messages, without gRPC, for applications on the device.

    from edgefleet.agent.local_client import LocalInference

    with LocalInference("/run/edgefleet-agent/inference.sock") as inference:
        reply = inference.predict(x)  # an inference_pb2.PredictResponse
        inference.feedback(reply.request_id, [true_class])

It imports numpy, protobuf and the standard library only. One connection answers one call at a time (a
lock keeps threads that share it in turn); open one per thread to predict concurrently. Refusals raise
the error catalogue's exceptions (``edgefleet.core.errors``: ``InvalidArgument`` for bad input,
``FailedPrecondition`` with no model installed, ``Unavailable`` when the agent is not there).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from edgefleet.agent.workload.frames import FEEDBACK, PREDICT, FrameError, read_frame, write_frame
from edgefleet.core.errors import STATUS_NUMBERS, EdgefleetError, ErrorCode, Unavailable, error_of
from edgefleet.v1 import inference_pb2

__all__ = ["LocalInference"]

_KINDS = {number: code for code, number in STATUS_NUMBERS.items()}


class LocalInference:
    def __init__(self, path: str | Path, *, timeout: float = 10.0) -> None:
        self._path = str(path)
        self._timeout = timeout
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def predict(self, x: npt.NDArray[Any], request_id: str = "") -> inference_pb2.PredictResponse:
        """Scores and classes for the batch ``x`` (float32, or the model's own input dtype)."""
        x = np.ascontiguousarray(x)
        tensor = inference_pb2.Tensor(shape=list(x.shape), dtype=x.dtype.name, data=x.tobytes())
        request = inference_pb2.PredictRequest(input=tensor, request_id=request_id)
        return inference_pb2.PredictResponse.FromString(self.call(PREDICT, request.SerializeToString()))

    def feedback(self, request_id: str, labels: Sequence[int]) -> list[bool]:
        """The true classes of a Predict's batch; which of its predictions were right."""
        request = inference_pb2.FeedbackRequest(request_id=request_id, labels=list(labels))
        reply = inference_pb2.FeedbackResponse.FromString(self.call(FEEDBACK, request.SerializeToString()))
        return list(reply.correct)

    def call(self, method: int, body: bytes) -> bytes:
        """One framed call: the reply's serialized message, or the server's error raised."""
        with self._lock:
            try:
                conn = self._connected()
                try:
                    write_frame(conn, method, body)
                except OSError:  # refused before it read the request: its reply says why, if it sent one
                    if (refusal := read_frame(conn)) is None:
                        raise
                    self._drop()
                    raise _error(refusal) from None
                reply = read_frame(conn)
            except (OSError, FrameError) as exc:
                self._drop()
                raise Unavailable(f"the agent's local socket {self._path}: {exc}") from exc
            if reply is None:
                self._drop()
                raise Unavailable(f"the agent's local socket {self._path} closed the connection")
        if reply[0] != 0:
            raise _error(reply)
        return reply[1:]

    def connect(self) -> None:
        """Connect now (a call connects when it needs to): an application can fail fast at its start."""
        with self._lock:
            try:
                self._connected()
            except OSError as exc:
                raise Unavailable(f"the agent's local socket {self._path}: {exc}") from exc

    def _connected(self) -> socket.socket:
        if self._socket is None:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(self._timeout)
            try:
                conn.connect(self._path)
            except OSError:
                conn.close()
                raise
            self._socket = conn
        return self._socket

    def _drop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> LocalInference:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _error(reply: bytes) -> EdgefleetError:
    """The domain error of a refusal frame (its status byte, then its message)."""
    return error_of(_KINDS.get(reply[0], ErrorCode.INTERNAL), reply[1:].decode("utf-8", "replace"))
