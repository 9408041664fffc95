"""DeviceRecord <-> JSON for the store (bytes as hex)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from edgefleet.orchestrator.fleet.model import Desired, DeviceRecord, Report, SlotReport

__all__ = ["device_from_json", "device_to_json"]


def device_to_json(d: DeviceRecord) -> str:
    doc = asdict(d)
    doc.pop("online")
    doc.pop("conditions")
    if d.desired is not None:
        doc["desired"]["signature"] = d.desired.signature.hex()
    return json.dumps(doc, sort_keys=True)


def device_from_json(text: str) -> DeviceRecord:
    doc: dict[str, Any] = json.loads(text)
    report = doc.get("report")
    if report is not None:
        report = Report(**{**report, "slots": tuple(SlotReport(**s) for s in report["slots"])})
    desired = doc.get("desired")
    if desired is not None:
        desired = Desired(**{**desired, "signature": bytes.fromhex(desired["signature"])})
    return DeviceRecord(**{**doc, "report": report, "desired": desired})
