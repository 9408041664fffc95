"""Early-Bird channel pruning of a Keras model, on the machine that builds (the ``train`` extra).

1. Train the model with an L1 penalty on its batch-norm scales; after every epoch, the keep-mask each
   ratio implies goes to that ratio's Early-Bird detector (:mod:`.earlybird`). The weights at the
   epoch a ratio's ticket is drawn are kept; the search stops when every ratio has its ticket.
2. Per ratio: cut the channels out structurally (:mod:`.kerassurgery`), fine-tune the narrower
   network without the penalty, export it as a float32 .tflite with a batch of one.

The caller feeds each pruned base through the ordinary recipes. Deterministic for a given model,
data and settings: seeded, one thread, TensorFlow's op determinism.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgefleet.core.errors import FailedPrecondition, InvalidArgument
from edgefleet.orchestrator.variants.analyser import analyse_graph
from edgefleet.orchestrator.variants.card import PruningRecord
from edgefleet.orchestrator.variants.earlybird import EarlyBirdDetector, Ticket, layer_masks
from edgefleet.orchestrator.variants.graph import read_graph
from edgefleet.orchestrator.variants.kerassurgery import (
    batch_one,
    gamma_variables,
    group_scores,
    plan_model,
    shrink,
)
from edgefleet.orchestrator.variants.prunegraph import PrunePlan

__all__ = ["PruneSettings", "PrunedBase", "load_keras", "prune_model", "to_tflite"]

Report = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class PruneSettings:
    ratios: tuple[float, ...]
    search_epochs: int = 30
    finetune_epochs: int = 20
    batch: int = 32
    learning_rate: float = 2e-3
    l1: float = 1e-4
    threshold: float = 0.1
    window: int = 5
    seed: int = 1234


@dataclass(frozen=True, slots=True)
class PrunedBase:
    ratio: float
    tflite: bytes
    record: PruningRecord


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise FailedPrecondition(
            "pruning trains the model and needs TensorFlow (the `train` extra): "
            "pip install 'edgefleet[train]' on the machine that builds"
        ) from exc
    return tf


def deterministic(seed: int) -> None:
    """Seeds, one thread and deterministic kernels, for the whole process."""
    tf = _tf()
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # the runtime already started (an earlier call set them)
        pass


def load_keras(path: str, *, source: str) -> Any:
    _tf()
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many kinds for a bad file; the message names the problem
        raise InvalidArgument(f"{source}: cannot load the Keras model ({type(exc).__name__}: {exc})") from exc


def to_tflite(model: Any) -> bytes:
    """float32 .tflite of a batch-1 Keras model, with its SignatureDef."""
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    # The converter prints the traced function's captures; keep the CLI's output clean.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return bytes(converter.convert())


def _outputs_probabilities(model: Any, x: np.ndarray) -> bool:
    out = np.asarray(model(x[:8], training=False))
    return bool(out.min() >= 0.0 and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3))


class _Trainer:
    """Mini-batch training, with an L1 penalty on ``penalised`` variables; seeded shuffles."""

    def __init__(
        self,
        model: Any,
        x: np.ndarray,
        y: np.ndarray,
        s: PruneSettings,
        *,
        epochs: int,
        penalised: list[Any] | None = None,
    ) -> None:
        tf = _tf()
        import keras

        self.x, self.y, self.batch, self.seed = x, y, s.batch, s.seed
        steps = epochs * -(-len(x) // s.batch)
        rate = keras.optimizers.schedules.CosineDecay(s.learning_rate, decay_steps=max(1, steps))
        optimizer = keras.optimizers.Adam(rate)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not _outputs_probabilities(model, x))
        penalty = list(penalised or [])
        l1 = s.l1

        def step(xb: Any, yb: Any) -> Any:
            with tf.GradientTape() as tape:
                value = loss(yb, model(xb, training=True))
                if penalty:
                    value += l1 * tf.add_n([tf.reduce_sum(tf.abs(v)) for v in penalty])
            grads = tape.gradient(value, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return value

        self._step = tf.function(step, reduce_retracing=True)

    def epoch(self, number: int) -> None:
        tf = _tf()
        order = np.random.default_rng(self.seed + number).permutation(len(self.x))
        for start in range(0, len(order), self.batch):
            idx = order[start : start + self.batch]
            self._step(tf.constant(self.x[idx]), tf.constant(self.y[idx]))


def recalibrate(model: Any, x: np.ndarray, samples: int = 2048) -> None:
    """Batch-norm statistics of the training data itself (one pass, as Once-for-All does for each
    sub-network): after a short fine-tune the moving averages still lag behind the weights."""
    norms = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    if not norms:
        return
    saved = [layer.momentum for layer in norms]
    try:
        for layer in norms:
            layer.momentum = 0.0
        model(np.asarray(x[:samples], dtype=np.float32), training=True)
    finally:
        for layer, momentum in zip(norms, saved, strict=True):
            layer.momentum = momentum


def _facts(data: bytes) -> tuple[int, int]:
    facts = analyse_graph(read_graph(data))
    return facts.total_macs, facts.parameters


def _keep(plan: PrunePlan, mask: np.ndarray) -> dict[int, np.ndarray]:
    keep, at = {}, 0
    for g in plan.prunable:
        keep[g.index] = np.flatnonzero(mask[at : at + g.channels])
        at += g.channels
    return keep


def prune_model(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    settings: PruneSettings,
    *,
    source: str = "model",
    report: Report | None = None,
) -> tuple[bytes, list[PrunedBase]]:
    """The model as given (float32 .tflite, batch 1) and one pruned, fine-tuned base per ratio."""
    say = report or (lambda _stage, _done, _total: None)
    for r in settings.ratios:
        if not 0.0 < r < 1.0:
            raise InvalidArgument(f"pruning ratio {r:g}: use a share of channels strictly between 0 and 1")
    plan = plan_model(model, source=source)
    deterministic(settings.seed)
    dense = to_tflite(batch_one(model, plan))
    macs_before, params_before = _facts(dense)
    channels_before = sum(g.channels for g in plan.prunable)
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)

    work = shrink(model, plan, {})  # a copy: the caller's model is not trained
    gammas = gamma_variables(work, plan)
    total = settings.search_epochs + len(settings.ratios) * settings.finetune_epochs
    detectors = {
        r: EarlyBirdDetector(threshold=settings.threshold, window=settings.window) for r in settings.ratios
    }
    tickets: dict[float, tuple[Ticket, list[np.ndarray]]] = {}
    search = _Trainer(work, x, y, settings, epochs=settings.search_epochs, penalised=gammas)
    for epoch in range(settings.search_epochs):
        say(f"{source}: Early-Bird search, epoch {epoch + 1}", epoch, total)
        search.epoch(epoch)
        scores = group_scores(work, plan)
        for r, detector in detectors.items():
            ticket = detector.update(np.concatenate(layer_masks(scores, r)))
            if ticket is not None:
                tickets[r] = (ticket, [w.copy() for w in work.get_weights()])
        if len(tickets) == len(detectors):
            break
    for r, detector in detectors.items():
        if r not in tickets:
            tickets[r] = (detector.give_up(), [w.copy() for w in work.get_weights()])

    pruned = []
    done = settings.search_epochs
    for r in settings.ratios:
        ticket, weights = tickets[r]
        work.set_weights(weights)
        keep = _keep(plan, ticket.mask)
        narrow = shrink(work, plan, keep)
        tune = _Trainer(narrow, x, y, settings, epochs=settings.finetune_epochs)
        for epoch in range(settings.finetune_epochs):
            say(f"{source}: pruned {r:g}, fine-tune epoch {epoch + 1}", done, total)
            tune.epoch(10_000 + epoch)
            done += 1
        recalibrate(narrow, x)
        data = to_tflite(batch_one(narrow))
        macs_after, params_after = _facts(data)
        record = PruningRecord(
            ratio=r,
            ticket_epoch=ticket.epoch,
            ticket_drawn=ticket.drawn,
            threshold=settings.threshold,
            mask_distance=ticket.distance,
            search_epochs=settings.search_epochs,
            finetune_epochs=settings.finetune_epochs,
            l1=settings.l1,
            macs_before=macs_before,
            macs_after=macs_after,
            parameters_before=params_before,
            parameters_after=params_after,
            channels_before=channels_before,
            channels_after=int(sum(len(k) for k in keep.values())),
        )
        pruned.append(PrunedBase(r, data, record))
    say(f"{source}: pruned", total, total)
    return dense, pruned
