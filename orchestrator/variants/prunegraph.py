"""Which channels can be pruned together: channel groups of a layer graph (no TensorFlow here).

A channel group is a set of tensors whose last axis must keep the same channels: a convolution's or
dense layer's output, everything that passes it through channel by channel (batch norm, activations,
pooling, depthwise convolution), and, through residual adds, every other group added to it (one
mask for all). Pruning a group removes the producers' output channels, the batch-norm and depthwise
channels that follow, and the matching input channels of every convolution or dense layer that reads
the group. Groups touching the model's input or output, or without a batch-norm scale to rank their
channels by, are kept whole. A layer this module cannot follow is refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgefleet.core.errors import InvalidArgument

__all__ = ["ChannelGroup", "LayerSpec", "PrunePlan", "plan_pruning"]

PRODUCERS = frozenset({"Conv2D", "Dense"})
PASSTHROUGH = frozenset(
    {
        "BatchNormalization",
        "Activation",
        "ReLU",
        "ELU",
        "LeakyReLU",
        "Softmax",
        "Dropout",
        "SpatialDropout2D",
        "GaussianNoise",
        "Identity",
        "MaxPooling2D",
        "AveragePooling2D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling2D",
        "ZeroPadding2D",
        "Cropping2D",
        "UpSampling2D",
        "DepthwiseConv2D",
    }
)
MERGES = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"})
SUPPORTED = sorted(PRODUCERS | PASSTHROUGH | MERGES | {"InputLayer"})


@dataclass(frozen=True, slots=True)
class LayerSpec:
    name: str
    #: The Keras class name, e.g. "Conv2D".
    kind: str
    #: Names of the layers whose outputs this layer reads, in order.
    inputs: tuple[str, ...]
    #: Size of the output's last (channel) axis.
    channels: int
    #: The layer's options that matter here (groups, depth_multiplier, axis, scale, activation, ...).
    config: Mapping[str, Any] = field(default_factory=dict)
    #: How many times the layer is called in the graph (a shared layer cannot be pruned per call).
    calls: int = 1


@dataclass(frozen=True, slots=True)
class ChannelGroup:
    index: int
    channels: int
    #: Convolution / dense layers writing these channels.
    producers: tuple[str, ...]
    #: Batch-norm layers (with a scale) on these channels: their |gamma| ranks the channels.
    scales: tuple[str, ...]
    #: Empty: the group may be pruned; else why it is kept whole.
    kept_because: str = ""

    @property
    def prunable(self) -> bool:
        return not self.kept_because


@dataclass(frozen=True, slots=True)
class PrunePlan:
    groups: tuple[ChannelGroup, ...]
    #: Layer name -> the group of its output channels.
    output_group: Mapping[str, int]
    #: Layer name -> the group of its (first) input's channels.
    input_group: Mapping[str, int]

    @property
    def prunable(self) -> tuple[ChannelGroup, ...]:
        return tuple(g for g in self.groups if g.prunable)


class _Union:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def new(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)
        return min(ra, rb)


def _refuse(layer: LayerSpec, why: str, *, source: str) -> InvalidArgument:
    return InvalidArgument(f"{source}: cannot prune layer '{layer.name}' ({layer.kind}): {why}")


def _check_layer(layer: LayerSpec, *, source: str) -> None:
    c = layer.config
    if layer.kind not in SUPPORTED:
        raise _refuse(
            layer,
            "channel pruning cannot follow channels through it; supported layers: " + ", ".join(SUPPORTED),
            source=source,
        )
    if layer.calls > 1:
        raise _refuse(layer, f"the layer is shared ({layer.calls} calls)", source=source)
    if c.get("data_format", "channels_last") != "channels_last":
        raise _refuse(layer, "only channels_last tensors are supported", source=source)
    if layer.kind == "Conv2D" and int(c.get("groups", 1)) != 1:
        raise _refuse(layer, "grouped convolution (groups != 1)", source=source)
    if layer.kind == "DepthwiseConv2D" and int(c.get("depth_multiplier", 1)) != 1:
        raise _refuse(layer, "depth_multiplier != 1", source=source)
    if layer.kind == "BatchNormalization":
        axis = c.get("axis", -1)
        axes = axis if isinstance(axis, list | tuple) else [axis]
        if len(axes) != 1 or int(axes[0]) not in (-1, int(c.get("rank", 4)) - 1):
            raise _refuse(layer, f"normalises axis {axis}, not the channel (last) axis", source=source)
    if layer.kind in MERGES and len(layer.inputs) < 2:
        raise _refuse(layer, "a merge with fewer than two inputs", source=source)
    if layer.kind not in MERGES | {"InputLayer"} and len(layer.inputs) != 1:
        raise _refuse(layer, f"reads {len(layer.inputs)} inputs", source=source)


def plan_pruning(layers: Sequence[LayerSpec], outputs: Sequence[str], *, source: str = "model") -> PrunePlan:
    """Channel groups of a graph (``layers`` in topological order). Raises InvalidArgument naming the
    first layer that cannot be pruned through."""
    uf = _Union()
    slot: dict[str, int] = {}
    specs = {layer.name: layer for layer in layers}
    inputs_of: dict[str, int] = {}
    input_slots: list[int] = []
    softmax_slots: list[int] = []
    for layer in layers:
        _check_layer(layer, source=source)
        for name in layer.inputs:
            if name not in slot:
                raise _refuse(layer, f"reads '{name}', which is not a layer before it", source=source)
        if layer.inputs:
            inputs_of[layer.name] = slot[layer.inputs[0]]
        if layer.kind == "InputLayer":
            slot[layer.name] = uf.new()
            input_slots.append(slot[layer.name])
        elif layer.kind in PRODUCERS:
            slot[layer.name] = uf.new()
        elif layer.kind in MERGES:
            widths = {specs[n].channels for n in layer.inputs}
            if len(widths) != 1:
                raise _refuse(
                    layer, f"merges tensors of {sorted(widths)} channels (broadcast)", source=source
                )
            g = slot[layer.inputs[0]]
            for name in layer.inputs[1:]:
                g = uf.join(g, slot[name])
            slot[layer.name] = g
        else:
            slot[layer.name] = slot[layer.inputs[0]]
        if layer.kind == "Softmax" or layer.config.get("activation") == "softmax":
            softmax_slots.append(slot[layer.name])
    for name in outputs:
        if name not in slot:
            raise InvalidArgument(f"{source}: output '{name}' is not a layer of the model")

    roots = sorted({uf.find(s) for s in slot.values()})
    index = {r: i for i, r in enumerate(roots)}
    producers: dict[int, list[str]] = {i: [] for i in index.values()}
    scales: dict[int, list[str]] = {i: [] for i in index.values()}
    for layer in layers:
        g = index[uf.find(slot[layer.name])]
        if layer.kind in PRODUCERS:
            producers[g].append(layer.name)
        if layer.kind == "BatchNormalization" and layer.config.get("scale", True):
            scales[g].append(layer.name)
    kept: dict[int, str] = {}
    for s in softmax_slots:
        kept.setdefault(index[uf.find(s)], "a softmax normalises over its channels")
    for name in outputs:
        kept[index[uf.find(slot[name])]] = f"it is the model's output ('{name}')"
    for s in input_slots:
        kept[index[uf.find(s)]] = "it is the model's input"
    groups = []
    for root, i in index.items():
        channels = next(specs[n].channels for n, s in slot.items() if uf.find(s) == root)
        why = kept.get(i, "")
        if not why and not scales[i]:
            why = "no batch normalization scales its channels"
        if not why and channels < 2:
            why = "a single channel"
        groups.append(ChannelGroup(i, channels, tuple(producers[i]), tuple(scales[i]), why))
    return PrunePlan(
        groups=tuple(groups),
        output_group={n: index[uf.find(s)] for n, s in slot.items()},
        input_group={n: index[uf.find(s)] for n, s in inputs_of.items()},
    )
