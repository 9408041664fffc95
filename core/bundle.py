"""The variant bundle: what travels to a device. A deterministic tar of three files:

    manifest.json   variant, model digest, labels, self-test expectations
    model.tflite    the variant (its SHA-256 is the variant id)
    samples.npz     labelled samples for the on-device self-test (and canary accuracy)

The orchestrator writes it (``write_bundle``); the agent opens it only after the
bundle's size, SHA-256 and Ed25519 signature checked out, and ``open_bundle``
checks every member again (names, sizes, the model digest).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgefleet.core.errors import InvalidArgument
from edgefleet.core.evalset import EvalSet, load_eval_set

__all__ = ["FORMAT", "Bundle", "Manifest", "SelfTestResult", "open_bundle", "run_self_test", "write_bundle"]

FORMAT = "edgefleet-bundle/1"
_MEMBERS = ("manifest.json", "model.tflite", "samples.npz")
_MAX_MEMBER = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Manifest:
    variant_id: str
    model: str
    recipe: str
    base_name: str
    labels: tuple[str, ...]
    #: Classes the orchestrator's host predicted for each bundled sample.
    expected_classes: tuple[int, ...]
    #: Share of samples whose class must agree with the host for the self-test to pass.
    min_agreement: float
    #: Operation-count energy per inference (45 nm lower bound), for the ``estimate:ops`` meter.
    ops_energy_joules: float = 0.0

    def to_json(self) -> bytes:
        variant = {
            "variant_id": self.variant_id,
            "model": self.model,
            "recipe": self.recipe,
            "base_name": self.base_name,
        }
        selftest = {
            "expected_classes": list(self.expected_classes),
            "min_agreement": self.min_agreement,
            "ops_energy_joules": self.ops_energy_joules,
        }
        doc = {"format": FORMAT, "variant": variant, "labels": list(self.labels), "selftest": selftest}
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r} is not {FORMAT!r}")
            v, st = doc["variant"], doc["selftest"]
            return cls(
                variant_id=str(v["variant_id"]),
                model=str(v["model"]),
                recipe=str(v["recipe"]),
                base_name=str(v["base_name"]),
                labels=tuple(str(x) for x in doc["labels"]),
                expected_classes=tuple(int(c) for c in st["expected_classes"]),
                min_agreement=float(st["min_agreement"]),
                ops_energy_joules=float(st.get("ops_energy_joules", 0.0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(f"bundle manifest is invalid: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Bundle:
    manifest: Manifest
    model: bytes
    samples: EvalSet


def _member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
    return info, io.BytesIO(data)


def write_bundle(manifest: Manifest, model: bytes, samples: EvalSet) -> bytes:
    """Deterministic bytes: the same inputs give the same digest."""
    if hashlib.sha256(model).hexdigest() != manifest.variant_id:
        raise InvalidArgument("bundle: the model's SHA-256 is not the manifest's variant id")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in zip(_MEMBERS, (manifest.to_json(), model, samples.to_npz_bytes()), strict=True):
            tar.addfile(*_member(name, data))
    return buf.getvalue()


def open_bundle(path: Path) -> Bundle:
    """Read a verified bundle file; refuses unexpected members, links, paths and sizes."""
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                if info.name not in _MEMBERS or not info.isfile() or info.name in members:
                    raise InvalidArgument(f"bundle {path.name}: unexpected member {info.name[:100]!r}")
                if info.size > _MAX_MEMBER:
                    raise InvalidArgument(f"bundle {path.name}: member {info.name} is {info.size} bytes")
                fh = tar.extractfile(info)
                assert fh is not None
                members[info.name] = fh.read()
    except (tarfile.TarError, OSError) as exc:
        raise InvalidArgument(f"bundle {path.name}: not a readable bundle ({exc})") from exc
    missing = [m for m in _MEMBERS if m not in members]
    if missing:
        raise InvalidArgument(f"bundle {path.name}: missing {missing}")
    manifest = Manifest.from_json(members["manifest.json"])
    if hashlib.sha256(members["model.tflite"]).hexdigest() != manifest.variant_id:
        raise InvalidArgument(
            f"bundle {path.name}: model.tflite does not match variant {manifest.variant_id[:12]}"
        )
    samples = load_eval_set(members["samples.npz"], source=f"bundle {path.name} samples")
    if len(manifest.expected_classes) != len(samples):
        raise InvalidArgument(
            f"bundle {path.name}: {len(samples)} samples but {len(manifest.expected_classes)} expectations"
        )
    return Bundle(manifest, members["model.tflite"], samples)


@dataclass(frozen=True, slots=True)
class SelfTestResult:
    passed: bool
    agreement: float
    accuracy: float
    samples: int
    reason: str


def run_self_test(classify: Any, bundle: Bundle) -> SelfTestResult:
    """Compare this device's predictions on the bundled samples with the host's."""
    predicted: npt.NDArray[np.int64] = classify(bundle.samples.x)
    expected = np.asarray(bundle.manifest.expected_classes)
    agreement = float((predicted == expected).mean())
    accuracy = float((predicted == bundle.samples.y).mean())
    passed = agreement >= bundle.manifest.min_agreement
    reason = (
        ""
        if passed
        else (
            f"self-test failed: {agreement:.0%} of {len(expected)} bundled samples agree with the "
            "orchestrator's "
            f"predictions (need {bundle.manifest.min_agreement:.0%}); accuracy here {accuracy:.0%}"
        )
    )
    return SelfTestResult(passed, agreement, accuracy, len(expected), reason)
