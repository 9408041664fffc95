"""A read-only view of a .tflite flatbuffer: tensors, operators and constants of the main subgraph.

Reads the file itself (never its name): dtypes come from the tensors.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from edgefleet.core.errors import InvalidArgument

__all__ = ["Graph", "Op", "Tensor", "builtin_code", "pack_model", "read_graph", "tflite_schema"]

_ITEMSIZE = {
    "float32": 4,
    "float16": 2,
    "int32": 4,
    "uint8": 1,
    "int64": 8,
    "bool": 1,
    "int16": 2,
    "int8": 1,
    "float64": 8,
    "uint32": 4,
    "uint16": 2,
    "bfloat16": 2,
    "int4": 0.5,
    "uint4": 0.5,
    "int2": 0.25,
    "uint64": 8,
    "complex64": 8,
}


@cache
def tflite_schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def builtin_code(code: Any) -> int:
    """An OperatorCode's real builtin operator. Newer files carry it in ``builtin_code`` (int32); older
    converters wrote only ``deprecated_builtin_code`` (int8), and ``builtin_code`` then reads 0 (ADD).
    Codes from 127 up keep 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) in the deprecated field. The schema's
    rule covers every case: the larger of the two."""
    return max(int(code.builtinCode), int(code.deprecatedBuiltinCode))


def pack_model(model: Any) -> bytes:
    """A ModelT (the schema's object API) written back as .tflite bytes."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@cache
def _enum_names(enum_name: str) -> dict[int, str]:
    enum = getattr(tflite_schema(), enum_name)
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


@dataclass(frozen=True, slots=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    #: Constant data stored in the file (weights, biases, shapes).
    constant: bool
    stored_bytes: int
    variable: bool
    quantized: bool

    @property
    def elements(self) -> int:
        return math.prod(self.shape) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return math.ceil(self.elements * _ITEMSIZE.get(self.dtype, 4))


@dataclass(frozen=True, slots=True)
class Op:
    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Any


@dataclass(frozen=True)
class Graph:
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraphs: int
    all_op_names: tuple[str, ...]
    has_signature: bool
    file_bytes: int

    def producer(self, tensor: int) -> Op | None:
        return self._producers.get(tensor)

    @functools.cached_property
    def _producers(self) -> dict[int, Op]:
        """Tensor index -> the operator that writes it (built once; the analyser asks per tensor)."""
        return {t: op for op in self.ops for t in op.outputs}


def _stored_bytes(model: Any, tensor: Any) -> int:
    buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    if buf is None:
        return 0
    if buf.data is not None and len(buf.data):
        return len(buf.data)
    return int(getattr(buf, "size", 0) or 0)  # large models keep data outside the flatbuffer


def read_graph(data: bytes, *, source: str = "<model>") -> Graph:
    """Parse a .tflite flatbuffer. Raises InvalidArgument naming ``source`` when it is not one."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise InvalidArgument(f"{source}: not a TFLite flatbuffer (file identifier {data[4:8]!r} != b'TFL3')")
    schema = tflite_schema()
    try:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as exc:  # the flatbuffers runtime raises a zoo of errors on corrupt input
        raise InvalidArgument(f"{source}: corrupt TFLite flatbuffer ({type(exc).__name__}: {exc})") from exc
    if not model.subgraphs:
        raise InvalidArgument(f"{source}: the model has no subgraph")
    types, builtins = _enum_names("TensorType"), _enum_names("BuiltinOperator")

    def op_name(opcode_index: int) -> str:
        code = model.operatorCodes[opcode_index]
        builtin = builtin_code(code)
        if builtin == schema.BuiltinOperator.CUSTOM:
            return f"CUSTOM:{(code.customCode or b'').decode(errors='replace')}"
        return builtins.get(builtin, f"BUILTIN_{builtin}")

    sg = model.subgraphs[0]
    tensors = tuple(
        Tensor(
            index=i,
            name=(t.name or b"").decode(errors="replace"),
            shape=tuple(int(d) for d in (t.shape if t.shape is not None else ())),
            dtype=types.get(t.type, f"type{t.type}").lower(),
            constant=_stored_bytes(model, t) > 0,
            stored_bytes=_stored_bytes(model, t),
            variable=bool(t.isVariable),
            quantized=bool(t.quantization is not None and t.quantization.scale is not None),
        )
        for i, t in enumerate(sg.tensors or [])
    )
    ops = tuple(
        Op(
            index=i,
            name=op_name(o.opcodeIndex),
            inputs=tuple(int(x) for x in (o.inputs if o.inputs is not None else ()) if x >= 0),
            outputs=tuple(int(x) for x in (o.outputs if o.outputs is not None else ())),
            options=o.builtinOptions,
        )
        for i, o in enumerate(sg.operators or [])
    )
    all_ops = tuple(op_name(o.opcodeIndex) for g in model.subgraphs for o in (g.operators or []))
    return Graph(
        tensors=tensors,
        ops=ops,
        inputs=tuple(int(x) for x in (sg.inputs if sg.inputs is not None else ())),
        outputs=tuple(int(x) for x in (sg.outputs if sg.outputs is not None else ())),
        subgraphs=len(model.subgraphs),
        all_op_names=all_ops,
        has_signature=bool(model.signatureDefs),
        file_bytes=len(data),
    )
