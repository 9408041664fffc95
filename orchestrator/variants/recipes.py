"""The recipe catalogue: how each variant is made from a float base with ai-edge-quantizer."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_RECIPES", "RECIPES", "Recipe", "resolve_recipes"]


@dataclass(frozen=True, slots=True)
class Recipe:
    name: str
    description: str
    #: Needs calibration on labelled samples (static activation ranges).
    calibrated: bool = False


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("fp32", "the float32 base itself"),
        Recipe("fp16", "float16 weights (FLOAT_CASTING), dequantized at load; float compute"),
        Recipe("dynamic_wi8_afp32", "dynamic-range int8: int8 weights, activations quantized on the fly"),
        Recipe("weight_only_wi8_afp32", "int8 weights stored, DEQUANTIZE to float; float compute"),
        Recipe("dynamic_wi4_afp32", "int4 weights, dynamic range (skips depthwise convolution)"),
        Recipe("static_wi8_ai8", "full-integer int8 with int8 input/output, calibrated", calibrated=True),
        Recipe("static_wi8_ai16", "int16 activations, int8 weights, calibrated", calibrated=True),
    )
}

DEFAULT_RECIPES: tuple[str, ...] = (
    "fp32",
    "fp16",
    "dynamic_wi8_afp32",
    "weight_only_wi8_afp32",
    "dynamic_wi4_afp32",
    "static_wi8_ai8",
)


def resolve_recipes(names: list[str] | tuple[str, ...]) -> tuple[Recipe, ...]:
    """Recipes by name (empty: the default set). Unknown names are an error that lists the known ones."""
    from edgefleet.core.errors import InvalidArgument

    if not names:
        names = DEFAULT_RECIPES
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise InvalidArgument(f"unknown recipe(s) {unknown}; known: {sorted(RECIPES)}")
    return tuple(RECIPES[n] for n in dict.fromkeys(names))
