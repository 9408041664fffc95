"""A/B model slots on disk: install into the inactive slot, activate on trial, commit or go back.

State lives in ``slots/state.json`` (written atomically), bundles in ``slots/a`` and
``slots/b``. A slot still on trial when the agent starts means the previous run
died during the trial: the agent returns to the previous slot by itself.

Every method that touches the disk is synchronous: the agent calls them on its disk thread
(``DiskExecutor``); the queries read the in-memory state and are safe from the event loop.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from edgefleet.core.enums import SlotState
from edgefleet.core.errors import FailedPrecondition
from edgefleet.core.fsutil import atomic_write

__all__ = ["SLOT_NAMES", "Recovery", "SlotInfo", "SlotManager", "SlotName", "VariantInfo"]

SlotName = Literal["a", "b"]
SLOT_NAMES: tuple[SlotName, SlotName] = ("a", "b")


@dataclass(frozen=True, slots=True)
class VariantInfo:
    variant_id: str
    model: str
    recipe: str
    base_name: str = ""


@dataclass(frozen=True, slots=True)
class SlotInfo:
    name: SlotName
    state: SlotState = SlotState.EMPTY
    variant: VariantInfo | None = None
    reason: str = ""
    since: float = 0.0
    trial_until: float = 0.0
    runtime: str = "litert"
    #: Generation of the desired state that installed this slot (0: unknown, an older state file).
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Recovery:
    """What ``recover`` did at start: the trial of ``generation`` was cut short and rolled back."""

    generation: int
    variant: VariantInfo | None
    note: str


@dataclass(frozen=True, slots=True)
class _State:
    active: SlotName | None = None
    previous: SlotName | None = None
    applied_generation: int = 0
    slots: dict[str, SlotInfo] = field(default_factory=lambda: {n: SlotInfo(n) for n in SLOT_NAMES})


class SlotManager:
    """Construction reads nothing; ``load`` (or ``open``) reads the state file."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self._clock = clock
        self._path = root / "state.json"
        self._state = _State()

    @classmethod
    def open(cls, root: Path, *, clock: Callable[[], float] = time.time) -> SlotManager:
        manager = cls(root, clock=clock)
        manager.load()
        return manager

    # ---- persistence ----
    def load(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._state = self._read()

    def _read(self) -> _State:
        if not self._path.exists():
            return _State()
        try:
            doc = json.loads(self._path.read_text())
            slots: dict[str, SlotInfo] = {}
            for name in SLOT_NAMES:
                raw = doc["slots"][name]
                variant = VariantInfo(**raw["variant"]) if raw.get("variant") else None
                slots[name] = SlotInfo(**{**raw, "variant": variant, "state": SlotState(raw["state"])})
            return _State(
                doc.get("active"), doc.get("previous"), int(doc.get("applied_generation", 0)), slots
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise FailedPrecondition(
                f"{self._path}: slot state is unreadable ({exc}); inspect or remove it"
            ) from exc

    def _save(self, state: _State) -> None:
        doc = {
            "active": state.active,
            "previous": state.previous,
            "applied_generation": state.applied_generation,
            "slots": {n: asdict(s) for n, s in state.slots.items()},
        }
        atomic_write(self._path, json.dumps(doc, indent=2).encode())
        self._state = state

    @staticmethod
    def _set_slot(st: _State, name: SlotName, **changes: object) -> _State:
        slots = dict(st.slots)
        slots[name] = replace(slots[name], **changes)  # type: ignore[arg-type]
        return replace(st, slots=slots)

    # ---- queries ----
    @property
    def active(self) -> SlotInfo | None:
        return self._state.slots[self._state.active] if self._state.active else None

    @property
    def previous(self) -> SlotInfo | None:
        return self._state.slots[self._state.previous] if self._state.previous else None

    @property
    def applied_generation(self) -> int:
        return self._state.applied_generation

    def slots(self) -> list[SlotInfo]:
        return [self._state.slots[n] for n in SLOT_NAMES]

    def bundle_path(self, name: SlotName) -> Path:
        return self.root / name / "bundle.tar"

    def inactive(self) -> SlotName:
        return "b" if self._state.active == "a" else "a"

    # ---- transitions ----
    def recover(self) -> Recovery | None:
        """Called at start: a trial that did not finish is a failed trial. Returns what was done."""
        active = self.active
        if active is None or active.state != SlotState.TRIAL:
            return None
        note = self.rollback("the agent stopped during the trial (crash, power loss or restart)")
        return Recovery(active.generation, active.variant, note)

    def install(self, bundle_file: Path, variant: VariantInfo, runtime: str, generation: int = 0) -> SlotName:
        """Copy a verified bundle into the inactive slot (never the serving one)."""
        name = self.inactive()
        target = self.bundle_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(bundle_file, tmp)
        tmp.replace(target)
        self._save(
            self._set_slot(
                self._state,
                name,
                state=SlotState.STANDBY,
                variant=variant,
                reason="",
                since=self._clock(),
                trial_until=0.0,
                runtime=runtime,
                generation=generation,
            )
        )
        return name

    def activate(self, name: SlotName, trial_seconds: float) -> None:
        state = self._state
        previous = state.active if state.active != name else state.previous
        now = self._clock()
        state = self._set_slot(
            state, name, state=SlotState.TRIAL, since=now, trial_until=now + trial_seconds, reason=""
        )
        self._save(replace(state, active=name, previous=previous))

    def commit(self) -> None:
        if self._state.active is None:
            raise FailedPrecondition("no active slot to commit")
        active = self._state.active
        self._save(self._set_slot(self._state, active, state=SlotState.COMMITTED, since=self._clock()))

    def mark_failed(self, name: SlotName, reason: str) -> None:
        self._save(
            self._set_slot(self._state, name, state=SlotState.FAILED, reason=reason, since=self._clock())
        )

    def rollback(self, reason: str) -> str:
        """Mark the active slot failed and serve the previous one again (if it holds a committed variant)."""
        state = self._state
        failed = state.active
        if failed is not None:
            state = self._set_slot(state, failed, state=SlotState.FAILED, reason=reason, since=self._clock())
        back = state.previous
        if back is not None and state.slots[back].state == SlotState.COMMITTED:
            state = replace(state, active=back, previous=None)
            self._save(state)
            return f"rolled back from slot {failed} to slot {back}: {reason}"
        self._save(replace(state, active=None, previous=None))
        return f"slot {failed} failed and no previous variant exists: {reason}"

    def set_applied_generation(self, generation: int) -> None:
        if generation != self._state.applied_generation:
            self._save(replace(self._state, applied_generation=generation))
