"""The agent's local socket: Predict and Feedback as framed protobuf on a unix socket, answering what the
gRPC Inference API answers, refusing bad input with the same one-line errors, and owning its socket file."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from edgefleet.agent.local_client import LocalInference
from edgefleet.agent.workload.engine import Engine
from edgefleet.agent.workload.frames import MAX_FRAME_BYTES
from edgefleet.agent.workload.inference import InferenceService
from edgefleet.agent.workload.local_socket import LocalSocketServer
from edgefleet.agent.workload.predict import InferenceServer
from edgefleet.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.reference import ReferenceFamily
from tests.helpers.engines import serving_engine
from tests.helpers.fleet import wait_for


def _raw(path: Path, frame: bytes) -> tuple[int, bytes]:
    """One frame sent as is; the reply's status and body."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(path))
        conn.sendall(frame)
        (size,) = struct.unpack("<I", conn.recv(4, socket.MSG_WAITALL))
        reply = conn.recv(size, socket.MSG_WAITALL)
        assert conn.recv(1) == b""  # every refusal below also ends the connection or answers once
        return reply[0], reply[1:]


async def test_answers_as_the_grpc_api_does_and_refuses_bad_input(
    tmp_path: Path, family: ReferenceFamily, evalset: EvalSet
) -> None:
    engine = await serving_engine(tmp_path, family.models[1].path.read_bytes(), evalset.head(64))
    path = tmp_path / "inference.sock"
    server = InferenceServer(engine, "127.0.0.1:0", path)
    await server.start()
    try:
        assert path.is_socket()
        assert path.stat().st_mode & 0o777 == 0o660
        x = evalset.x[:8]
        with LocalInference(path) as local:
            reply = local.predict(x)
            direct = engine.current.model.classify(x)  # type: ignore[union-attr]
            assert list(reply.classes) == [int(c) for c in direct]
            assert reply.variant.variant_id == engine.current.variant.variant_id  # type: ignore[union-attr]
            assert reply.scores.shape == [8, 10]
            assert reply.request_id
            assert list(reply.labels) == [evalset.labels[c] for c in reply.classes]
            assert engine.stats.totals().inferences >= 8

            # Feedback: a label outside the classes is refused and the id stays good; then it is taken
            with pytest.raises(InvalidArgument, match=r"label\(s\) \[10\] outside the model's classes 0-9"):
                local.feedback(reply.request_id, [10] * 8)
            correct = local.feedback(reply.request_id, [int(y) for y in evalset.y[:8]])
            assert correct == [int(c) == int(y) for c, y in zip(reply.classes, evalset.y[:8], strict=True)]
            with pytest.raises(NotFound, match="unknown or expired request id"):
                local.feedback(reply.request_id, [0] * 8)

            # bad input: the same one-line errors as the gRPC API, and the connection keeps serving
            with pytest.raises(
                InvalidArgument, match="input dtype uint8 does not match the model's input dtype float32"
            ):
                local.predict(np.zeros((1, 8, 8, 1), np.uint8))
            with pytest.raises(InvalidArgument, match="input contains NaN or infinite values"):
                local.predict(np.full((1, 8, 8, 1), np.nan, np.float32))
            with pytest.raises(InvalidArgument, match="Predict: the request is not a valid protobuf message"):
                local.call(1, b"\xff\xff\xff\xff not protobuf")
            with pytest.raises(InvalidArgument, match="unknown method 7: 1 is Predict, 2 Feedback"):
                local.call(7, b"")
            assert list(local.predict(x[:1]).classes) == [int(direct[0])]

        # a frame longer than the limit: refused by its length, never read, the connection closed
        status, body = _raw(path, struct.pack("<I", MAX_FRAME_BYTES + 1))
        assert status == 3
        assert f"frames are 1 to {MAX_FRAME_BYTES} bytes" in body.decode()
        status, body = _raw(path, struct.pack("<I", 0))
        assert status == 3
        assert "a frame of 0 bytes" in body.decode()
    finally:
        await server.stop()
        engine.close()
    assert not path.exists()  # stopping removes the socket file
    with pytest.raises(Unavailable, match="local socket"):
        LocalInference(path).predict(evalset.x[:1])


async def test_threads_predict_at_once_and_the_interpreter_runs_one_at_a_time(
    tmp_path: Path, family: ReferenceFamily, evalset: EvalSet
) -> None:
    engine = await serving_engine(tmp_path, family.models[1].path.read_bytes(), evalset.head(64))
    server = LocalSocketServer(InferenceService(engine), tmp_path / "s.sock", max_connections=4)
    server.start()
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []
    model = engine.current.model  # type: ignore[union-attr]
    inside, most = 0, 0
    lock = threading.Lock()
    original = model.predict

    def counted(x: np.ndarray) -> np.ndarray:  # how many inferences run on the interpreter at once
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        try:
            return original(x)
        finally:
            with lock:
                inside -= 1

    model.predict = counted  # type: ignore[method-assign]

    def client(k: int) -> None:
        try:
            with LocalInference(tmp_path / "s.sock") as local:
                results[k] = [int(local.predict(evalset.x[i : i + 1]).classes[0]) for i in range(50)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert not errors, errors
        expected = [int(c) for c in original(evalset.x[:50]).argmax(axis=1)]
        assert all(results[k] == expected for k in range(4))
        assert most == 1
        # a fifth connection beyond max_connections while four are open: refused in one line
        await wait_for(lambda: server.connections == 0, what="the clients' connections to end")
        held = [LocalInference(tmp_path / "s.sock") for _ in range(4)]
        for local in held:
            local.predict(evalset.x[:1])
        with pytest.raises(ResourceExhausted, match="serves 4 connections at most"):
            LocalInference(tmp_path / "s.sock").predict(evalset.x[:1])
        # ... also when the server refused and closed before the request was written (a broken pipe): the
        # client reads the refusal instead of reporting the pipe
        late = LocalInference(tmp_path / "s.sock")
        late.connect()
        await asyncio.sleep(0.3)
        with pytest.raises(ResourceExhausted, match="serves 4 connections at most"):
            late.predict(evalset.x[:1])
        for local in held:
            local.close()
    finally:
        server.stop()
        engine.close()


def test_the_socket_file_is_taken_over_only_from_a_dead_agent(tmp_path: Path) -> None:
    engine_less = InferenceService(Engine())  # no model: nothing here predicts
    path = tmp_path / "s.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # a socket file nobody listens on: what a killed agent leaves
    first = LocalSocketServer(engine_less, path)
    first.start()  # replaced
    try:
        with pytest.raises(FailedPrecondition, match="is in use by another process"):
            LocalSocketServer(engine_less, path).start()
    finally:
        first.stop()
    path.write_text("not a socket")
    with pytest.raises(FailedPrecondition, match="exists and is not a socket"):
        LocalSocketServer(engine_less, path).start()
    assert path.read_text() == "not a socket"  # never removed
    long = tmp_path / ("x" * 120)
    with pytest.raises(InvalidArgument, match="longer than a unix socket's 107 bytes"):
        LocalSocketServer(engine_less, long).start()
    engine_less.engine.close()
