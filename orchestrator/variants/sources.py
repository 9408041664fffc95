"""Float bases from the files given to ``variants build``: a .tflite as it is, a Keras model converted to
float32 .tflite, and, with ``--prune``, one Early-Bird-pruned base per ratio.

Keras models and pruning need TensorFlow (the ``train`` extra) on the machine that runs the command;
the orchestrator receives .tflite bases only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefleet.core.errors import InvalidArgument
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.variants.card import PruningRecord

__all__ = ["KERAS_SUFFIXES", "Base", "check_disjoint", "keras_bases", "parse_ratios"]

KERAS_SUFFIXES = (".keras", ".h5")


@dataclass(frozen=True, slots=True)
class Base:
    name: str
    data: bytes
    pruning: PruningRecord | None = None
    #: What the user called the file (its path), for the orchestrator's messages about it.
    source: str = ""


def parse_ratios(text: str) -> tuple[float, ...]:
    """``"0.3,0.5,0.7"`` -> (0.3, 0.5, 0.7); each strictly between 0 and 1, no repeats."""
    ratios: list[float] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            r = float(part)
        except ValueError:
            raise InvalidArgument(
                f"--prune: {part!r} is not a number (give ratios like 0.3,0.5,0.7)"
            ) from None
        if not 0.0 < r < 1.0:
            raise InvalidArgument(f"--prune: ratio {part} is not strictly between 0 and 1")
        if r not in ratios:
            ratios.append(r)
    if not ratios:
        raise InvalidArgument("--prune: give at least one ratio, e.g. 0.3,0.5,0.7")
    return tuple(ratios)


def check_disjoint(train: EvalSet, evalset: EvalSet) -> None:
    """Training samples must not be evaluation samples (accuracy would be measured on training data)."""
    if train.sample_shape != evalset.sample_shape:
        raise InvalidArgument(
            f"{train.source}: samples have shape {list(train.sample_shape)}, the evaluation set's "
            f"{list(evalset.sample_shape)}"
        )
    seen = {np.ascontiguousarray(s, dtype=np.float32).tobytes() for s in evalset.x}
    shared = sum(np.ascontiguousarray(s, dtype=np.float32).tobytes() in seen for s in train.x)
    if shared:
        raise InvalidArgument(
            f"{train.source}: {shared} of its {len(train)} samples are also in the evaluation set "
            f"{evalset.source}; train on samples the evaluation set does not hold"
        )


def _ratio_tag(r: float) -> str:
    return f"p{r:g}"


def keras_bases(
    path: Path,
    base_name: str,
    *,
    train: EvalSet | None,
    ratios: tuple[float, ...],
    search_epochs: int,
    finetune_epochs: int,
    report: Callable[[str, int, int], None] | None = None,
) -> list[Base]:
    """The Keras model as given (float32 .tflite) and, with ``ratios``, its pruned bases
    (``BASE-p0.5``, ...), pruned and fine-tuned on ``train``."""
    from edgefleet.orchestrator.variants.pruning import PruneSettings, load_keras, prune_model, to_tflite

    source = path.name
    model = load_keras(str(path), source=source)
    if not ratios:
        from edgefleet.orchestrator.variants.kerassurgery import batch_one

        return [Base(base_name, to_tflite(batch_one(model)))]
    if train is None:
        raise InvalidArgument("--prune trains the model: give its training data with --train TRAIN.npz")
    settings = PruneSettings(ratios, search_epochs=search_epochs, finetune_epochs=finetune_epochs)
    dense, pruned = prune_model(model, train.x, train.y, settings, source=source, report=report)
    return [Base(base_name, dense)] + [
        Base(f"{base_name}-{_ratio_tag(p.ratio)}", p.tflite, p.record) for p in pruned
    ]
