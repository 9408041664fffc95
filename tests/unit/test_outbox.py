from __future__ import annotations

from pathlib import Path

from edgefleet.agent.telemetry.outbox import Outbox


def test_sequences_grow_across_restarts_and_acks_delete(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    assert [box.append(lambda s: f"w{s}".encode()) for _ in range(3)] == [1, 2, 3]
    assert box.ack(2) == 2
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert again.append(lambda s: b"x") == 4  # never reuses a sequence, even after acks and a restart
    assert [seq for seq, _ in again.pending()] == [3, 4]
    assert again.pending(after=3) == [(4, b"x")]


def test_bounded_with_a_drop_counter(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_windows=5)
    for _ in range(8):
        box.append(lambda s: b"w")
    assert box.backlog() == 5
    assert box.dropped == 3
    assert [seq for seq, _ in box.pending()] == [4, 5, 6, 7, 8]  # the oldest went first
