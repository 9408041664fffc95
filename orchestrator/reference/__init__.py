"""The reference model family shipped inside the package: ``digits`` at three widths.

Produced by ``scripts/train_reference_models.py`` (deterministic; needs the
``train`` extra). The demo and the tests use it on a fresh machine with no download.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["ReferenceFamily", "ReferenceModel", "reference_family"]


@dataclass(frozen=True, slots=True)
class ReferenceModel:
    name: str
    path: Path
    width: float
    parameters: int
    #: Accuracy on the evaluation split, as recorded by the training script (LiteRT, float32).
    recorded_accuracy: float


@dataclass(frozen=True, slots=True)
class ReferenceFamily:
    model: str
    description: str
    labels: tuple[str, ...]
    eval_path: Path
    models: tuple[ReferenceModel, ...]


def reference_family(name: str = "digits") -> ReferenceFamily:
    root = Path(str(resources.files(__package__) / name))
    meta = json.loads((root / "family.json").read_text())
    models = tuple(
        ReferenceModel(
            name=m["name"],
            path=root / m["file"],
            width=float(m["width"]),
            parameters=int(m["parameters"]),
            recorded_accuracy=float(m["eval_accuracy"]),
        )
        for m in meta["models"]
    )
    return ReferenceFamily(
        model=meta["model"],
        description=meta["description"],
        labels=tuple(meta["labels"]),
        eval_path=root / meta["eval"]["file"],
        models=models,
    )
