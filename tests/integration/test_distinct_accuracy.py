"""Telemetry windows report accuracy over DISTINCT samples: the canary scores every bundled sample of the
scoring split (not a 64-sample prefix), bitmaps say which samples were scored and right, Feedback labels
count apart as new samples, and each window says how long its meter ran and what idle power it subtracted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from edgefleet.agent.workload.coverage import unpack_bits
from edgefleet.core.evalset import EvalSet
from edgefleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc
from tests.helpers.controlstub import control_stub
from tests.helpers.fleet import agent_config, agent_in_process, committed, predict, wait_for


def bits(w: common_pb2.TelemetryWindow, n: int) -> tuple[int, int]:
    return int(unpack_bits(w.scored_samples, n).sum()), int(unpack_bits(w.correct_samples, n).sum())


async def test_the_canary_scores_every_sample_of_the_split_and_feedback_counts_apart(
    template: Path, tmp_path: Path, evalset: EvalSet
) -> None:
    split = evalset.head(180)  # the size of the reference family's scoring split
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        serving = cat.custom(cat.variant_ids("w1.0", ["fp32"])[0], split)
        stub.on_connect[:] = [stub.config(window_seconds=0.5, canary_seconds=0.5), stub.desired(serving)]
        cfg = agent_config(stub.address, tmp_path / "a", "rpi4", "t")  # no replay: the canary only
        async with agent_in_process(cfg) as agent:
            await wait_for(lambda: committed(agent, serving.variant.variant_id), what="commit")

            def canary_windows() -> list[common_pb2.TelemetryWindow]:
                return [w for w in stub.windows() if w.variant.variant_id and w.labelled]

            await wait_for(lambda: len(canary_windows()) >= 3, what="canary windows")
            reply = await predict(agent, split.x[:1].astype(np.float32), request_id="r-1")
            address = (cfg.data_dir / "predict.addr").read_text().strip()
            async with grpc.aio.insecure_channel(address) as channel:
                inference: Any = inference_pb2_grpc.InferenceStub(channel)
                await inference.Feedback(
                    inference_pb2.FeedbackRequest(request_id="r-1", labels=[int(split.y[0])])
                )
            await wait_for(lambda: any(w.feedback_labelled for w in stub.windows()), what="feedback window")

        for w in canary_windows():
            if w.labelled == w.feedback_labelled:
                continue  # the feedback's window, when no canary pass ended in it (checked below)
            assert (w.labelled - w.feedback_labelled) % 180 == 0  # whole passes over the split ...
            scored, right = bits(w, 180)
            assert scored == 180  # ... every sample of it, each counted once
            assert right <= scored
            if (
                w.labelled == 180 and not w.feedback_labelled
            ):  # one pass: the throughput count and the distinct count agree
                assert w.correct == right
            assert right / scored > 0.85
            assert len(w.scored_samples) == 23  # ceil(180 / 8) bytes
            assert w.measured_seconds > 0.3
            assert w.idle_watts == pytest.approx(2.7)  # the profile's idle power, as the stub configured
        [fb] = [w for w in stub.windows() if w.feedback_labelled]
        assert fb.feedback_labelled == 1
        assert fb.feedback_correct == int(reply.classes[0] == split.y[0])
