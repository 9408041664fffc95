from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgefleet.agent.slots import SlotManager, VariantInfo
from edgefleet.core.errors import FailedPrecondition

A = VariantInfo("a" * 64, "m", "fp32")
B = VariantInfo("b" * 64, "m", "static_wi8_ai8")


def bundle(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.bundle"
    path.write_bytes(name.encode() * 10)
    return path


def test_install_goes_to_the_inactive_slot_and_survives_a_reload(tmp_path: Path) -> None:
    slots = SlotManager.open(tmp_path / "slots", clock=lambda: 100.0)
    first = slots.install(bundle(tmp_path, "x"), A, "litert")
    slots.activate(first, trial_seconds=10)
    slots.commit()
    second = slots.install(bundle(tmp_path, "y"), B, "tflite-micro")
    assert {first, second} == {"a", "b"}
    assert slots.active is not None
    assert slots.active.variant == A  # installing never touches the serving slot
    again = SlotManager.open(tmp_path / "slots")
    assert again.active is not None
    assert again.active.state == "committed"
    assert [s.state for s in again.slots()] == ["committed", "standby"]
    assert again.slots()[1].runtime == "tflite-micro"


def test_rollback_returns_to_the_committed_previous_slot(tmp_path: Path) -> None:
    slots = SlotManager.open(tmp_path / "slots")
    slots.activate(slots.install(bundle(tmp_path, "x"), A, "litert"), 1)
    slots.commit()
    slots.activate(slots.install(bundle(tmp_path, "y"), B, "litert"), 1)
    note = slots.rollback("energy budget breached")
    assert "rolled back from slot b to slot a" in note
    assert slots.active is not None
    assert slots.active.variant == A
    assert slots.slots()[1].state == "failed"
    assert slots.slots()[1].reason == "energy budget breached"


def test_recover_treats_an_unfinished_trial_as_failed(tmp_path: Path) -> None:
    slots = SlotManager.open(tmp_path / "slots")
    slots.activate(slots.install(bundle(tmp_path, "x"), A, "litert"), 1)
    slots.commit()
    slots.activate(slots.install(bundle(tmp_path, "y"), B, "litert"), 60)
    restarted = SlotManager.open(tmp_path / "slots")
    recovery = restarted.recover()
    assert recovery is not None
    assert "stopped during the trial" in recovery.note
    assert recovery.variant == B
    assert restarted.active is not None
    assert restarted.active.variant == A
    assert restarted.recover() is None  # idempotent


def test_first_variant_failing_leaves_nothing_active(tmp_path: Path) -> None:
    slots = SlotManager.open(tmp_path / "slots")
    slots.activate(slots.install(bundle(tmp_path, "x"), A, "litert"), 1)
    assert "no previous variant" in slots.rollback("crashed")
    assert slots.active is None


def test_garbage_state_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "slots").mkdir()
    (tmp_path / "slots" / "state.json").write_text(json.dumps({"active": "a"}))
    with pytest.raises(FailedPrecondition, match="slot state is unreadable"):
        SlotManager.open(tmp_path / "slots")
