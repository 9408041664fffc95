"""Channel groups of layer graphs: residual adds share one mask; unsupported layers are refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from edgefleet.core.errors import InvalidArgument
from edgefleet.orchestrator.variants.prunegraph import LayerSpec, plan_pruning


def L(name: str, kind: str, inputs: tuple[str, ...] = (), channels: int = 8, **config: Any) -> LayerSpec:  # noqa: N802
    return LayerSpec(name, kind, inputs, channels, config)


def residual() -> list[LayerSpec]:
    return [
        L("image", "InputLayer", (), 1),
        L("conv1", "Conv2D", ("image",), 8),
        L("bn1", "BatchNormalization", ("conv1",), 8),
        L("relu1", "ReLU", ("bn1",), 8),
        L("dw", "DepthwiseConv2D", ("relu1",), 8),
        L("bn2", "BatchNormalization", ("dw",), 8),
        L("conv2", "Conv2D", ("bn2",), 8),
        L("bn3", "BatchNormalization", ("conv2",), 8),
        L("add", "Add", ("relu1", "bn3"), 8),
        L("conv3", "Conv2D", ("add",), 16),  # no batch norm after it
        L("pool", "GlobalAveragePooling2D", ("conv3",), 16),
        L("fc", "Dense", ("pool",), 10),
        L("probs", "Softmax", ("fc",), 10),
    ]


def test_residual_add_joins_both_branches_into_one_group() -> None:
    plan = plan_pruning(residual(), ["probs"])
    (group,) = plan.prunable
    assert group.producers == ("conv1", "conv2")
    assert group.scales == ("bn1", "bn2", "bn3")
    assert group.channels == 8
    # Everything on the group's channels, and who reads them.
    for name in ("conv1", "bn1", "relu1", "dw", "bn2", "conv2", "bn3", "add"):
        assert plan.output_group[name] == group.index, name
    assert plan.input_group["conv2"] == group.index  # conv2 reads the group (through dw, bn2)
    assert plan.input_group["conv3"] == group.index
    assert plan.input_group["dw"] == group.index
    kept = {g.producers: g.kept_because for g in plan.groups if not g.prunable}
    assert kept[()] == "it is the model's input"
    assert kept[("conv3",)] == "no batch normalization scales its channels"
    assert kept[("fc",)].startswith("it is the model's output")
    assert plan.input_group["fc"] == plan.output_group["conv3"]


def test_sequential_chain_gives_one_group_per_normalised_producer() -> None:
    layers = [
        L("in", "InputLayer", (), 3),
        L("c1", "Conv2D", ("in",), 16),
        L("b1", "BatchNormalization", ("c1",), 16),
        L("a1", "Activation", ("b1",), 16, activation="relu"),
        L("p1", "MaxPooling2D", ("a1",), 16),
        L("c2", "Conv2D", ("p1",), 32),
        L("b2", "BatchNormalization", ("c2",), 32),
        L("d1", "Dense", ("b2",), 12),
        L("b3", "BatchNormalization", ("d1",), 12, rank=2),
        L("d2", "Dense", ("b3",), 4, activation="softmax"),
    ]
    plan = plan_pruning(layers, ["d2"])
    assert [g.producers for g in plan.prunable] == [("c1",), ("c2",), ("d1",)]
    assert plan.input_group["c2"] == plan.output_group["c1"]
    assert plan.input_group["d2"] == plan.output_group["d1"]


def test_softmax_inside_the_network_keeps_its_group() -> None:
    layers = [
        L("in", "InputLayer", (), 3),
        L("c1", "Conv2D", ("in",), 8),
        L("b1", "BatchNormalization", ("c1",), 8),
        L("attn", "Activation", ("b1",), 8, activation="softmax"),
        L("c2", "Conv2D", ("attn",), 4),
    ]
    plan = plan_pruning(layers, ["c2"])
    assert plan.prunable == ()
    assert plan.groups[plan.output_group["c1"]].kept_because == "a softmax normalises over its channels"


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            L("flat", "Flatten", ("bn1",), 512),
            "cannot prune layer 'flat' (Flatten): channel pruning cannot follow",
        ),
        (L("cat", "Concatenate", ("bn1", "relu1"), 16), "cannot prune layer 'cat' (Concatenate)"),
        (L("lam", "Lambda", ("bn1",), 8), "cannot prune layer 'lam' (Lambda)"),
        (L("grp", "Conv2D", ("bn1",), 8, groups=2), "cannot prune layer 'grp' (Conv2D): grouped convolution"),
        (
            L("dwm", "DepthwiseConv2D", ("bn1",), 16, depth_multiplier=2),
            "'dwm' (DepthwiseConv2D): depth_multiplier",
        ),
        (
            L("bnx", "BatchNormalization", ("bn1",), 8, axis=1),
            "'bnx' (BatchNormalization): normalises axis 1",
        ),
        (
            LayerSpec("twice", "Conv2D", ("bn1",), 8, {}, calls=2),
            "'twice' (Conv2D): the layer is shared (2 calls)",
        ),
        (L("cf", "Conv2D", ("bn1",), 8, data_format="channels_first"), "'cf' (Conv2D): only channels_last"),
        (L("bc", "Add", ("bn1", "conv1x"), 8), "'bc' (Add): reads 'conv1x', which is not a layer before it"),
    ],
)
def test_unsupported_layers_are_refused_by_name(layer: LayerSpec, message: str) -> None:
    layers = [*residual()[:4], layer]
    with pytest.raises(InvalidArgument, match=r"mine\.keras: ") as info:
        plan_pruning(layers, [layer.name], source="mine.keras")
    assert message in info.value.message


def test_add_of_different_widths_is_refused() -> None:
    layers = [
        L("in", "InputLayer", (), 3),
        L("a", "Conv2D", ("in",), 8),
        L("b", "Conv2D", ("in",), 1),
        L("sum", "Add", ("a", "b"), 8),
    ]
    with pytest.raises(InvalidArgument, match=r"'sum' \(Add\): merges tensors of \[1, 8\] channels"):
        plan_pruning(layers, ["sum"])
