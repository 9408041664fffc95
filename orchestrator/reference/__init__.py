"""The reference model family shipped inside the package: ``digits``.

Produced by ``scripts/train_reference_models.py`` (deterministic; needs the ``train`` extra): three
separately trained networks at widths 0.5 / 1.0 / 2.0 (``digits_w*``), the sub-networks of one
Once-for-All supernet at widths 0.25 to 2.0 (``digits_ofa_w*``), and Early-Bird-pruned networks
(``digits_eb_w1.0-p*``). ``reference_family()`` is what the demo and the tests build (the three separately
trained ones); ``reference_grid()`` is every shipped network. Both work on a fresh machine with no download.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from edgefleet.orchestrator.variants.card import PruningRecord

__all__ = ["ReferenceFamily", "ReferenceModel", "reference_family", "reference_grid"]


@dataclass(frozen=True, slots=True)
class ReferenceModel:
    name: str
    path: Path
    width: float
    parameters: int
    #: Accuracy on the whole evaluation set, as recorded by the training script (LiteRT, float32).
    recorded_accuracy: float
    #: Accuracy on the evaluation set's scoring split (what cards and plans use).
    scoring_accuracy: float | None = None
    macs: int = 0
    #: "separately-trained", "once-for-all" (a sub-network of the weight-shared supernet) or
    #: "early-bird" (pruned).
    origin: str = ""
    #: One of the networks the demo uses.
    demo: bool = True
    pruning: PruningRecord | None = None

    @property
    def base_name(self) -> str:
        """``digits_eb_w1.0-p0.5`` -> ``eb_w1.0-p0.5``."""
        return self.name.split("_", 1)[1] if "_" in self.name else self.name


@dataclass(frozen=True, slots=True)
class ReferenceFamily:
    model: str
    description: str
    labels: tuple[str, ...]
    eval_path: Path
    models: tuple[ReferenceModel, ...]
    #: The training script's settings (family.json "training") and CPU seconds (timings.json).
    training: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None


def _model(root: Path, m: dict[str, Any]) -> ReferenceModel:
    return ReferenceModel(
        name=m["name"],
        path=root / m["file"],
        width=float(m["width"]),
        parameters=int(m["parameters"]),
        recorded_accuracy=float(m["eval_accuracy"]),
        scoring_accuracy=float(m["scoring_accuracy"]) if "scoring_accuracy" in m else None,
        macs=int(m.get("macs", 0)),
        origin=str(m.get("origin", "")),
        demo=bool(m.get("demo", True)),
        pruning=PruningRecord(**m["pruning"]) if m.get("pruning") else None,
    )


def _load(name: str, *, grid: bool) -> ReferenceFamily:
    root = Path(str(resources.files(__package__) / name))
    meta = json.loads((root / "family.json").read_text())
    timings = root / "timings.json"
    models = tuple(_model(root, m) for m in meta["models"])
    return ReferenceFamily(
        model=meta["model"],
        description=meta["description"],
        labels=tuple(meta["labels"]),
        eval_path=root / meta["eval"]["file"],
        models=models if grid else tuple(m for m in models if m.demo),
        training=meta.get("training"),
        timings=json.loads(timings.read_text()) if timings.exists() else None,
    )


def reference_family(name: str = "digits") -> ReferenceFamily:
    """The networks the demo uses: the separately trained widths 0.5, 1.0 and 2.0."""
    return _load(name, grid=False)


def reference_grid(name: str = "digits") -> ReferenceFamily:
    """Every shipped network: the demo's three, the Once-for-All sub-networks at every width and the
    Early-Bird-pruned networks."""
    return _load(name, grid=True)
