"""The static half of a variant card: what a .tflite costs, read from the file itself.

MACs by op class (CONV_2D = out·kh·kw·cin, DEPTHWISE = out·kh·kw, FC = out·in;
pooling = out·window; any other op = one per output element, MEAN one per input
element), parameters, dtypes, the hybrid and full-integer flags, peak activation
memory from the greedy planner, and the exact TFLite Micro arena or the reason
TFLM refuses the model.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections import Counter
from dataclasses import dataclass

import numpy as np

from edgefleet.agent.runtime import load_model
from edgefleet.agent.runtime.micro import ArenaUsage, MicroModel
from edgefleet.core.errors import EdgefleetError, InvalidArgument, ModelLoadError
from edgefleet.orchestrator.variants.graph import Graph, Op, Tensor, read_graph
from edgefleet.orchestrator.variants.isolation import isolated
from edgefleet.orchestrator.variants.planner import Buffer, max_live_bytes, plan_greedy

__all__ = ["MAC_CLASSES", "StaticFacts", "analyse", "analyse_graph", "tflm_check"]

#: Compute ops and the MAC class they count under.
MAC_CLASSES = {
    "CONV_2D": "conv",
    "TRANSPOSE_CONV": "conv",
    "CONV_3D": "conv",
    "DEPTHWISE_CONV_2D": "depthwise",
    "FULLY_CONNECTED": "fully_connected",
    "BATCH_MATMUL": "fully_connected",
}
_INT_WEIGHTS = {"int8", "uint8", "int4", "uint4", "int2"}
_FLOATS = {"float32", "float16", "bfloat16", "float64"}


@dataclass(frozen=True, slots=True)
class StaticFacts:
    size_bytes: int
    parameters: int
    #: Bytes of constant data stored in the file.
    weight_bytes: int
    #: Bytes of weights the runtime reads per inference (dequantized weights count at float32).
    weight_read_bytes: int
    #: Bytes of activations written and read per inference (every op's inputs and outputs).
    activation_traffic_bytes: int
    macs: dict[str, int]
    ops: tuple[str, ...]
    tensor_dtypes: dict[str, int]
    hybrid: bool
    full_integer: bool
    has_signature: bool
    compute_dtype: str
    peak_activation_bytes: int
    max_live_bytes: int
    tflm_arena: ArenaUsage | None
    tflm_refusal: str

    @property
    def total_macs(self) -> int:
        return sum(self.macs.values())


def _weight_source(graph: Graph, index: int) -> tuple[Tensor | None, bool]:
    """The constant behind an op input, directly or through DEQUANTIZE; and whether it is dequantized."""
    tensor = graph.tensors[index]
    if tensor.constant:
        return tensor, False
    producer = graph.producer(index)
    if producer is not None and producer.name == "DEQUANTIZE" and producer.inputs:
        source = graph.tensors[producer.inputs[0]]
        if source.constant:
            return source, True
    return None, False


def _op_macs(graph: Graph, op: Op) -> tuple[str, int]:
    out = graph.tensors[op.outputs[0]] if op.outputs else None
    out_elems = out.elements if out is not None else 0
    klass = MAC_CLASSES.get(op.name)
    if klass is not None and len(op.inputs) >= 2:
        w = graph.tensors[op.inputs[1]].shape
        if op.name in ("CONV_2D", "TRANSPOSE_CONV") and len(w) == 4:
            return klass, out_elems * w[1] * w[2] * w[3]
        if op.name == "DEPTHWISE_CONV_2D" and len(w) == 4:
            return klass, out_elems * w[1] * w[2]
        if op.name == "FULLY_CONNECTED" and len(w) == 2:
            return klass, out_elems * w[1]
        if op.name == "BATCH_MATMUL":
            a = graph.tensors[op.inputs[0]].shape
            return klass, out_elems * (a[-1] if a else 1)
        if op.name == "CONV_3D" and len(w) == 5:
            return klass, out_elems * w[0] * w[1] * w[2] * w[3]
    if op.name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D") and op.options is not None:
        return "other", out_elems * int(op.options.filterHeight) * int(op.options.filterWidth)
    if op.name in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD") and op.inputs:
        return "other", graph.tensors[op.inputs[0]].elements
    return "other", out_elems


def _load_time(graph: Graph, op: Op) -> bool:
    """DEQUANTIZE of a constant runs once when the model is prepared, not per inference."""
    return op.name == "DEQUANTIZE" and bool(op.inputs) and graph.tensors[op.inputs[0]].constant


def _dequantized_weight(graph: Graph, tensor: int) -> bool:
    producer = graph.producer(tensor)
    return producer is not None and _load_time(graph, producer)


def _buffers(graph: Graph) -> list[Buffer]:
    last_step = max(len(graph.ops) - 1, 0)
    first: dict[int, int] = dict.fromkeys(graph.inputs, 0)
    last: dict[int, int] = dict.fromkeys(graph.outputs, last_step)
    persistent: set[int] = set()
    for op in graph.ops:
        for t in op.outputs:
            first.setdefault(t, op.index)
            last[t] = max(last.get(t, op.index), op.index)
        for t in op.inputs:
            first.setdefault(t, op.index)
            last[t] = max(last.get(t, op.index), op.index)
        if _load_time(graph, op):
            persistent.update(op.outputs)  # weights dequantized once, kept for every inference
    buffers = []
    for idx, start in first.items():
        tensor = graph.tensors[idx]
        if tensor.constant:
            continue
        if tensor.variable or idx in persistent:
            buffers.append(Buffer(f"t{idx}", tensor.nbytes, 0, last_step))
        else:
            buffers.append(Buffer(f"t{idx}", tensor.nbytes, start, last[idx]))
    return buffers


def analyse_graph(graph: Graph) -> StaticFacts:
    """Static facts from the graph alone (no runtime involved)."""
    macs: Counter[str] = Counter({"conv": 0, "depthwise": 0, "fully_connected": 0, "other": 0})
    params: dict[int, int] = {}
    weight_read = 0
    hybrid = False
    per_inference = [op for op in graph.ops if not _load_time(graph, op)]
    for op in per_inference:
        klass, n = _op_macs(graph, op)
        macs[klass] += n
        if op.name not in MAC_CLASSES:
            continue
        for position, idx in enumerate(op.inputs[1:3], start=1):
            source, dequantized = _weight_source(graph, idx)
            if source is None:
                continue
            params[source.index] = source.elements
            weight_read += source.elements * 4 if dequantized else source.nbytes
            activation = graph.tensors[op.inputs[0]]
            if (
                position == 1
                and not dequantized
                and activation.dtype in _FLOATS
                and source.dtype in _INT_WEIGHTS
            ):
                hybrid = True
    activations = [t for t in graph.tensors if not t.constant]
    full_integer = bool(activations) and not any(t.dtype in _FLOATS for t in activations)
    if full_integer:
        compute = "int16" if any(t.dtype == "int16" for t in activations) else "int8"
    elif hybrid:
        compute = "int8"  # dynamic range: activations quantized on the fly, integer MACs
    else:
        compute = "float32"
    traffic = sum(
        graph.tensors[t].nbytes
        for op in per_inference
        for t in (*op.inputs, *op.outputs)
        if not graph.tensors[t].constant and not _dequantized_weight(graph, t)
    )
    buffers = _buffers(graph)
    return StaticFacts(
        size_bytes=graph.file_bytes,
        parameters=sum(params.values()),
        weight_bytes=sum(t.stored_bytes for t in graph.tensors if t.constant),
        weight_read_bytes=math.ceil(weight_read),
        activation_traffic_bytes=traffic,
        macs=dict(macs),
        ops=tuple(sorted(set(graph.all_op_names))),
        tensor_dtypes=dict(sorted(Counter(t.dtype for t in graph.tensors).items())),
        hybrid=hybrid,
        full_integer=full_integer,
        has_signature=graph.has_signature,
        compute_dtype=compute,
        peak_activation_bytes=plan_greedy(buffers).arena_bytes,
        max_live_bytes=max_live_bytes(buffers),
        tflm_arena=None,
        tflm_refusal="",
    )


def tflm_check(data: bytes) -> tuple[ArenaUsage | None, str]:
    """The exact TFLM arena, or why TFLite Micro refuses the model."""
    try:
        model = load_model(data, runtime="tflite-micro", source="model")
    except ModelLoadError as exc:
        return None, exc.message.removeprefix("model: ").removeprefix("TFLite Micro cannot run the model: ")
    assert isinstance(model, MicroModel)
    try:
        return model.arena(), ""
    except ModelLoadError as exc:
        return None, exc.message


def _runtime_probe(data: bytes, source: str) -> tuple[ArenaUsage | None, str]:
    """In the isolated helper: prove LiteRT loads and runs it once (no default delegates: the real
    ops), ask TFLM. The in-process evaluation that follows only ever sees models that survived this."""
    try:
        model = load_model(data, default_delegates=False, source=source)
        try:
            shape = tuple(max(1, d) for d in model.input.shape)
            model.invoke_raw(np.zeros(shape, dtype=model.input.dtype))
        finally:
            model.close()
        return tflm_check(data)
    except EdgefleetError:
        raise
    except Exception as exc:  # whatever a broken model makes the runtime wrappers raise
        raise ModelLoadError(f"{source}: the runtime cannot use it ({type(exc).__name__}: {exc})") from exc


#: What a corrupt flatbuffer raises from the graph walk; at this boundary it means "not a model".
_PARSE_ERRORS = (IndexError, KeyError, UnicodeDecodeError, ValueError, TypeError, OverflowError, struct.error)


def analyse(data: bytes, *, source: str = "<model>") -> StaticFacts:
    """Full static card: parse and walk the graph, then the runtime probes in an isolated process."""
    try:
        graph = read_graph(data, source=source)
        facts = analyse_graph(graph)
    except _PARSE_ERRORS as exc:
        raise InvalidArgument(f"{source}: not a valid .tflite model ({type(exc).__name__}: {exc})") from exc
    arena, refusal = isolated().run(_runtime_probe, data, source, what=source)
    return dataclasses.replace(facts, tflm_arena=arena, tflm_refusal=refusal)
