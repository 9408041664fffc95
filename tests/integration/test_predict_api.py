"""The agent's local Inference API refuses bad input with INVALID_ARGUMENT and one clear message: bytes that
are not protobuf, a dtype that is not the model's, Feedback labels outside the model's classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from edgefleet.core.evalset import EvalSet
from edgefleet.v1 import inference_pb2, inference_pb2_grpc
from tests.helpers.fleet import (
    agent_config,
    agent_in_process,
    committed,
    orchestrator_in_process,
    push_desired,
    variant_id,
    wait_for,
)


def tensor(x: np.ndarray) -> inference_pb2.Tensor:
    return inference_pb2.Tensor(shape=list(x.shape), dtype=str(x.dtype), data=x.tobytes())


async def _refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_bad_input_is_invalid_argument(template: Path, tmp_path: Path, evalset: EvalSet) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        cfg = agent_config(server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0])
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            fp32, int8 = variant_id(server, "w1.0", "fp32"), variant_id(server, "w1.0", "static_wi8_ai8")
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=fp32)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, fp32), what="commit")
            address = (cfg.data_dir / "predict.addr").read_text().strip()
            async with grpc.aio.insecure_channel(address) as channel:
                stub: Any = inference_pb2_grpc.InferenceStub(channel)
                x = evalset.x[:2].astype(np.float32)

                # 1. bytes that are not a PredictRequest: INVALID_ARGUMENT naming the method, not UNKNOWN
                raw = channel.unary_unary("/edgefleet.v1.Inference/Predict")
                error = await _refused(raw(b"\xff\xff\xff\xff not protobuf", timeout=10))
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
                assert "Predict: the request is not a valid protobuf message" in (error.details() or "")

                # 2. int8 data into a float32 model: refused, naming both dtypes
                codes = np.clip(x * 127, -128, 127).astype(np.int8)
                error = await _refused(
                    stub.Predict(inference_pb2.PredictRequest(input=tensor(codes)), timeout=10)
                )
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "input dtype int8 does not match the model's input dtype float32" in (
                    error.details() or ""
                )

                # 3. Feedback with a label outside the model's ten classes: refused, nothing recorded
                reply = await stub.Predict(inference_pb2.PredictRequest(input=tensor(x)), timeout=10)
                labelled = agent.engine.stats.labelled
                bad = inference_pb2.FeedbackRequest(request_id=reply.request_id, labels=[1, 10])
                error = await _refused(stub.Feedback(bad, timeout=10))
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "label(s) [10] outside the model's classes 0-9" in (error.details() or "")
                assert agent.engine.stats.labelled == labelled
                good = inference_pb2.FeedbackRequest(
                    request_id=reply.request_id, labels=[int(y) for y in evalset.y[:2]]
                )
                answer = await stub.Feedback(good, timeout=10)  # the request id is still good
                assert len(answer.correct) == 2
                assert agent.engine.stats.labelled == labelled + 2

            # a model that takes int8: its own dtype and float32 (quantized here) are fine, uint8 is not
            [b] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=int8)
            push_desired(server, b)
            await wait_for(lambda: committed(agent, int8), what="int8 commit")
            assert agent.engine.current is not None
            native = agent.engine.current.model.input.dtype
            assert native == "int8"
            async with grpc.aio.insecure_channel(address) as channel:
                stub = inference_pb2_grpc.InferenceStub(channel)
                as_float = await stub.Predict(inference_pb2.PredictRequest(input=tensor(x)), timeout=10)
                quantized = agent.engine.current.model.input.to_native(x)
                as_int8 = await stub.Predict(
                    inference_pb2.PredictRequest(input=tensor(quantized)), timeout=10
                )
                assert list(as_int8.classes) == list(as_float.classes)
                error = await _refused(
                    stub.Predict(
                        inference_pb2.PredictRequest(input=tensor(quantized.view(np.uint8))), timeout=10
                    )
                )
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "input dtype uint8 does not match the model's input dtype int8" in (
                    error.details() or ""
                )
