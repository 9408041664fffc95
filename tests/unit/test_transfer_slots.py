"""TransferSlots: at most N sends at once, in turn; a send that does not finish in time ends Unavailable
and frees its slot for the next (a device that stops reading cannot stall everyone's downloads)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from edgefleet.core.errors import Unavailable
from edgefleet.orchestrator.metrics import OrchestratorMetrics
from edgefleet.orchestrator.server.transfers import TransferSlots


async def test_at_most_n_sends_at_once_and_the_rest_wait_their_turn() -> None:
    registry = CollectorRegistry()
    slots = TransferSlots(2, metrics=OrchestratorMetrics(registry))
    running, peak, order = 0, 0, []

    async def write(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        order.append(i)
        return i

    got = await asyncio.gather(*(slots.send(lambda i=i: write(i), f"chunk {i}") for i in range(6)))
    assert got == list(range(6))
    assert peak == 2
    assert slots.sending == 0
    assert registry.get_sample_value("edgefleet_artifact_chunks_waited_total") == 4  # all but the first two
    assert registry.get_sample_value("edgefleet_artifact_chunks_sending") == 0


async def test_a_send_that_never_finishes_gives_its_slot_back() -> None:
    registry = CollectorRegistry()
    slots = TransferSlots(1, send_timeout=0.2, metrics=OrchestratorMetrics(registry))
    never = asyncio.Event()

    async def stuck() -> None:
        await never.wait()  # a device that took no byte of its chunk

    async def fine() -> str:
        return "sent"

    stuck_send = asyncio.create_task(slots.send(stuck, "artifact abc to dev-1"))
    await asyncio.sleep(0.05)
    assert registry.get_sample_value("edgefleet_artifact_chunks_sending") == 1
    # the next transfer waits for the only slot, and gets it once the stuck one timed out
    assert await asyncio.wait_for(slots.send(fine, "artifact abc to dev-2"), timeout=5) == "sent"
    with pytest.raises(
        Unavailable, match=r"artifact abc to dev-1: the device took no chunk in 0.2 s; it resumes"
    ):
        await stuck_send
    assert slots.sending == 0
    assert registry.get_sample_value("edgefleet_artifact_sends_timed_out_total") == 1
