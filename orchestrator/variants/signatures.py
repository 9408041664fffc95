"""Add (or remove) the SignatureDef of a .tflite.

ai-edge-quantizer calibrates through signature runners, so a model without a
SignatureDef (common in the wild) gets one named ``serving_default`` mapping
the main subgraph's inputs and outputs before calibration.
"""

from __future__ import annotations

from typing import Any

from edgefleet.orchestrator.variants.graph import pack_model, tflite_schema

__all__ = ["DEFAULT_SIGNATURE", "ensure_signature", "strip_signatures"]

DEFAULT_SIGNATURE = "serving_default"


def ensure_signature(data: bytes) -> tuple[bytes, bool]:
    """The model with a SignatureDef; ``True`` when one had to be added."""
    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    if model.signatureDefs:
        return data, False
    sg = model.subgraphs[0]

    def tensor_map(index: int, fallback: str) -> Any:
        entry = schema.TensorMapT()
        name = (sg.tensors[index].name or b"").decode(errors="replace")
        entry.name = (name or fallback).split(":")[0]
        entry.tensorIndex = int(index)
        return entry

    sig = schema.SignatureDefT()
    sig.signatureKey = DEFAULT_SIGNATURE
    sig.subgraphIndex = 0
    sig.inputs = [tensor_map(i, f"input_{n}") for n, i in enumerate(sg.inputs)]
    sig.outputs = [tensor_map(i, f"output_{n}") for n, i in enumerate(sg.outputs)]
    model.signatureDefs = [sig]
    return pack_model(model), True


def strip_signatures(data: bytes) -> bytes:
    """The model without SignatureDefs (what many published models look like)."""
    model = tflite_schema().ModelT.InitFromPackedBuf(data, 0)
    model.signatureDefs = []
    return pack_model(model)
