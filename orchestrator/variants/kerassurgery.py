"""Keras side of channel pruning: read a model's layer graph, score channels, cut them out structurally.

Needs TensorFlow / Keras 3 (the ``train`` extra); imported only by the pruning build path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from edgefleet.core.errors import InvalidArgument
from edgefleet.orchestrator.variants.prunegraph import LayerSpec, PrunePlan, plan_pruning

__all__ = ["batch_one", "describe", "gamma_variables", "group_scores", "plan_model", "shrink"]

_OPTIONS = ("groups", "depth_multiplier", "axis", "scale", "activation", "data_format")


def _history(arg: Any) -> list[str]:
    """Layer names of the Keras tensors in one serialised call argument."""
    if isinstance(arg, dict):
        if arg.get("class_name") == "__keras_tensor__":
            return [str(arg["config"]["keras_history"][0])]
        return [n for v in arg.values() for n in _history(v)]
    if isinstance(arg, list | tuple):
        return [n for v in arg for n in _history(v)]
    return []


def _spec(layer: Any, kind: str, inputs: tuple[str, ...], calls: int) -> LayerSpec:
    config = layer.get_config()
    options = {k: config[k] for k in _OPTIONS if k in config}
    try:  # a layer called more than once has no single input / output (refused as shared)
        if kind == "BatchNormalization":
            options["rank"] = len(layer.input.shape)
        channels = int(layer.output.shape[-1] or 0)
    except (AttributeError, ValueError):
        channels = 0
    return LayerSpec(layer.name, kind, inputs, channels, options, calls)


def describe(model: Any, *, source: str) -> tuple[tuple[LayerSpec, ...], tuple[str, ...]]:
    """The model's layers (topological order) and output layer names."""
    import keras

    if isinstance(model, keras.Sequential):
        specs = [LayerSpec("__input__", "InputLayer", (), int(model.inputs[0].shape[-1] or 0))]
        for layer in model.layers:
            specs.append(_spec(layer, type(layer).__name__, (specs[-1].name,), 1))
        return tuple(specs), (specs[-1].name,)
    if not isinstance(model, keras.Model) or not hasattr(model, "get_config"):
        raise InvalidArgument(f"{source}: not a Keras functional or Sequential model")
    try:
        config = model.get_config()
        layer_configs = config["layers"]
    except (NotImplementedError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"{source}: a subclassed Keras model has no layer graph to prune") from exc
    specs = []
    for entry in layer_configs:
        layer = model.get_layer(entry["name"])
        nodes = entry.get("inbound_nodes") or []
        inputs = tuple(dict.fromkeys(_history([n.get("args", []) for n in nodes])))
        specs.append(_spec(layer, str(entry["class_name"]), inputs, max(1, len(nodes))))
    out = config["output_layers"]
    outputs = (str(out[0]),) if out and isinstance(out[0], str) else tuple(str(o[0]) for o in out)
    return tuple(specs), outputs


def plan_model(model: Any, *, source: str) -> PrunePlan:
    layers, outputs = describe(model, source=source)
    plan = plan_pruning(layers, outputs, source=source)
    if not plan.prunable:
        reasons = "; ".join(
            f"{', '.join(g.producers) or 'input'} kept: {g.kept_because}" for g in plan.groups
        )
        raise InvalidArgument(f"{source}: no channel group can be pruned ({reasons})")
    return plan


def gamma_variables(model: Any, plan: PrunePlan) -> list[Any]:
    """The batch-norm scales of the prunable groups (the L1 penalty's target)."""
    return [model.get_layer(name).gamma for g in plan.prunable for name in g.scales]


def group_scores(model: Any, plan: PrunePlan) -> list[np.ndarray]:
    """Per prunable group: the summed |gamma| of its batch-norm layers, one score per channel."""
    scores = []
    for g in plan.prunable:
        total = np.zeros(g.channels, dtype=np.float64)
        for name in g.scales:
            total += np.abs(np.asarray(model.get_layer(name).gamma.numpy(), dtype=np.float64))
        scores.append(total)
    return scores


def _sliced(
    kind: str, weights: list[np.ndarray], cin: np.ndarray | None, cout: np.ndarray | None
) -> list[Any]:
    """A layer's weights with only the kept input / output channels (None: all)."""
    if not weights:
        return weights
    out = list(weights)
    if kind == "Conv2D":
        k = out[0]
        k = k[:, :, cin, :] if cin is not None else k
        out[0] = k[..., cout] if cout is not None else k
        if len(out) > 1 and cout is not None:
            out[1] = out[1][cout]
    elif kind == "Dense":
        k = out[0]
        k = k[cin, :] if cin is not None else k
        out[0] = k[:, cout] if cout is not None else k
        if len(out) > 1 and cout is not None:
            out[1] = out[1][cout]
    elif kind == "DepthwiseConv2D" and cin is not None:
        out[0] = out[0][:, :, cin, :]
        if len(out) > 1:
            out[1] = out[1][cin]
    elif kind == "BatchNormalization" and cin is not None:
        out = [w[cin] for w in out]
    return out


def shrink(model: Any, plan: PrunePlan, keep: Mapping[int, np.ndarray], *, batch: int | None = None) -> Any:
    """A new model with only the kept channels of each group (``keep``: group -> sorted channel indices)
    and, with ``batch``, a fixed batch size. Weights are copied, sliced."""
    import keras

    def sizes(layer: Any) -> dict[str, int]:
        g = plan.output_group.get(layer.name)
        if g is None or g not in keep:
            return {}
        if type(layer).__name__ == "Conv2D":
            return {"filters": len(keep[g])}
        if type(layer).__name__ == "Dense":
            return {"units": len(keep[g])}
        return {}

    def clone(layer: Any) -> Any:
        config = {**layer.get_config(), **sizes(layer)}
        return type(layer).from_config(config)

    shape = tuple(model.inputs[0].shape[1:])
    new_input = keras.Input(shape=shape, batch_size=batch, name=model.inputs[0].name.split(":")[0])
    new = keras.models.clone_model(model, input_tensors=new_input, clone_function=clone)
    for layer in model.layers:
        kind = type(layer).__name__
        gin = plan.input_group.get(layer.name)
        gout = plan.output_group.get(layer.name)
        cin = keep.get(gin) if gin is not None else None
        cout = keep.get(gout) if gout is not None and kind in ("Conv2D", "Dense") else None
        new.get_layer(layer.name).set_weights(_sliced(kind, layer.get_weights(), cin, cout))
    return new


def batch_one(model: Any, plan: PrunePlan | None = None) -> Any:
    """The same network with a batch dimension of 1 (what the .tflite export takes)."""
    return shrink(model, plan or PrunePlan((), {}, {}), {}, batch=1)
