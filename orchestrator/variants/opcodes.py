"""Operator codes as every reader sees them.

Older converters (TF < 2.4, e.g. the MLPerf Tiny anomaly-detection model) wrote each operator's code only
in ``OperatorCode.deprecated_builtin_code``; ``builtin_code`` then reads 0, which is ADD. LiteRT and our
analyser take the larger of the two, but ai-edge-quantizer reads ``builtin_code`` alone: it saw every
FULLY_CONNECTED as ADD and quantized nothing. Before quantizing, the codes are written where it looks.
"""

from __future__ import annotations

from edgefleet.orchestrator.variants.graph import builtin_code, pack_model, tflite_schema

__all__ = ["NORMALISED_NOTE", "normalise_opcodes"]

NORMALISED_NOTE = "operator codes normalised: the base stored them only in deprecated_builtin_code"


def normalise_opcodes(data: bytes) -> tuple[bytes, bool]:
    """The model with ``builtin_code`` = max(builtin_code, deprecated_builtin_code) in every operator code
    (the same code :func:`builtin_code` gives the analyser); ``True`` when anything changed. A model that
    needs nothing comes back as the very same bytes."""
    model = tflite_schema().ModelT.InitFromPackedBuf(data, 0)
    changed = False
    for code in model.operatorCodes or ():
        real = builtin_code(code)
        if code.builtinCode != real:
            code.builtinCode = real
            changed = True
    return (pack_model(model), True) if changed else (data, False)
