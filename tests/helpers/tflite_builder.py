"""Write small .tflite models by hand (flatbuffer object API), so their figures can be computed by hand.

Real models: LiteRT and TFLite Micro load and run what this writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

_TYPES = {"float32": fb.TensorType.FLOAT32, "int32": fb.TensorType.INT32, "int8": fb.TensorType.INT8}


@dataclass
class ModelBuilder:
    tensors: list[Any] = field(default_factory=list)
    buffers: list[Any] = field(default_factory=lambda: [fb.BufferT()])
    operators: list[Any] = field(default_factory=list)
    opcodes: list[int] = field(default_factory=list)

    def tensor(
        self, name: str, shape: list[int], dtype: str = "float32", data: np.ndarray | None = None
    ) -> int:
        t = fb.TensorT()
        t.name = name
        t.shape = list(shape)
        t.type = _TYPES[dtype]
        t.buffer = 0
        if data is not None:
            buf = fb.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def weights(self, name: str, shape: list[int], seed: int = 0) -> int:
        rng = np.random.default_rng(seed)
        return self.tensor(name, shape, data=rng.normal(0, 0.3, size=shape).astype(np.float32))

    def op(
        self, builtin: int, inputs: list[int], outputs: list[int], options_type: int = 0, options: Any = None
    ) -> None:
        if builtin not in self.opcodes:
            self.opcodes.append(builtin)
        o = fb.OperatorT()
        o.opcodeIndex = self.opcodes.index(builtin)
        o.inputs = inputs
        o.outputs = outputs
        o.builtinOptionsType = options_type
        o.builtinOptions = options
        self.operators.append(o)

    def conv2d(
        self, x: int, w: int, b: int, out: int, *, padding: int = fb.Padding.SAME, stride: int = 1
    ) -> None:
        opts = fb.Conv2DOptionsT()
        opts.padding, opts.strideW, opts.strideH = padding, stride, stride
        opts.dilationWFactor = opts.dilationHFactor = 1
        self.op(fb.BuiltinOperator.CONV_2D, [x, w, b], [out], fb.BuiltinOptions.Conv2DOptions, opts)

    def depthwise(self, x: int, w: int, b: int, out: int, *, padding: int = fb.Padding.VALID) -> None:
        opts = fb.DepthwiseConv2DOptionsT()
        opts.padding, opts.strideW, opts.strideH, opts.depthMultiplier = padding, 1, 1, 1
        opts.dilationWFactor = opts.dilationHFactor = 1
        self.op(
            fb.BuiltinOperator.DEPTHWISE_CONV_2D,
            [x, w, b],
            [out],
            fb.BuiltinOptions.DepthwiseConv2DOptions,
            opts,
        )

    def max_pool(self, x: int, out: int, size: int) -> None:
        opts = fb.Pool2DOptionsT()
        opts.padding, opts.strideW, opts.strideH = fb.Padding.VALID, size, size
        opts.filterWidth = opts.filterHeight = size
        self.op(fb.BuiltinOperator.MAX_POOL_2D, [x], [out], fb.BuiltinOptions.Pool2DOptions, opts)

    def fully_connected(self, x: int, w: int, b: int, out: int) -> None:
        opts = fb.FullyConnectedOptionsT()
        self.op(
            fb.BuiltinOperator.FULLY_CONNECTED,
            [x, w, b],
            [out],
            fb.BuiltinOptions.FullyConnectedOptions,
            opts,
        )

    def finish(
        self, inputs: list[int], outputs: list[int], *, signature: bool = True, legacy_opcodes: bool = False
    ) -> bytes:
        """``legacy_opcodes``: operator codes only in ``deprecated_builtin_code`` (``builtin_code`` left at
        its default 0, ADD), as older converters wrote them."""
        model = fb.ModelT()
        model.version = 3
        model.description = "edgefleet test model"
        codes = []
        for builtin in self.opcodes:
            c = fb.OperatorCodeT()
            c.builtinCode = 0 if legacy_opcodes else builtin
            c.deprecatedBuiltinCode = min(builtin, 127)
            c.version = 1
            codes.append(c)
        model.operatorCodes = codes
        sg = fb.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs = self.tensors, self.operators, inputs, outputs
        sg.name = "main"
        model.subgraphs = [sg]
        model.buffers = self.buffers
        if signature:
            sig = fb.SignatureDefT()
            sig.signatureKey, sig.subgraphIndex = "serving_default", 0
            sig.inputs = [_tensor_map(self.tensors[i].name, i) for i in inputs]
            sig.outputs = [_tensor_map(self.tensors[i].name, i) for i in outputs]
            model.signatureDefs = [sig]
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def _tensor_map(name: str, index: int) -> Any:
    m = fb.TensorMapT()
    m.name, m.tensorIndex = name, index
    return m


def conv_fc_model(*, signature: bool = True, legacy_opcodes: bool = False) -> bytes:
    """[1,4,4,2] -CONV_2D 3x3 SAME, 3 filters-> [1,4,4,3] -FC 48->5-> [1,5]."""
    b = ModelBuilder()
    x = b.tensor("x", [1, 4, 4, 2])
    h = b.tensor("h", [1, 4, 4, 3])
    y = b.tensor("y", [1, 5])
    b.conv2d(x, b.weights("conv_w", [3, 3, 3, 2]), b.weights("conv_b", [3], 1), h)
    b.fully_connected(h, b.weights("fc_w", [5, 48], 2), b.weights("fc_b", [5], 3), y)
    return b.finish([x], [y], signature=signature, legacy_opcodes=legacy_opcodes)


def depthwise_model() -> bytes:
    """[1,6,6,2] -CONV 1x1 (4)-> [1,6,6,4] -DW 3x3 VALID-> [1,4,4,4] -MAXPOOL 2-> [1,2,2,4] -FC-> [1,3]."""
    b = ModelBuilder()
    x = b.tensor("x", [1, 6, 6, 2])
    a = b.tensor("a", [1, 6, 6, 4])
    d = b.tensor("d", [1, 4, 4, 4])
    p = b.tensor("p", [1, 2, 2, 4])
    y = b.tensor("y", [1, 3])
    b.conv2d(x, b.weights("pw", [4, 1, 1, 2]), b.weights("pw_b", [4], 1), a)
    b.depthwise(a, b.weights("dw", [1, 3, 3, 4], 2), b.weights("dw_b", [4], 3), d)
    b.max_pool(d, p, 2)
    b.fully_connected(p, b.weights("fc", [3, 16], 4), b.weights("fc_b", [3], 5), y)
    return b.finish([x], [y])


def depthwise_only_model() -> bytes:
    """[1,5,5,4] -DW 3x3 VALID-> [1,3,3,4]: nothing int4 dynamic quantization applies to."""
    b = ModelBuilder()
    x = b.tensor("x", [1, 5, 5, 4])
    y = b.tensor("y", [1, 3, 3, 4])
    b.depthwise(x, b.weights("dw", [1, 3, 3, 4]), b.weights("dw_b", [4], 1), y)
    return b.finish([x], [y])


def autoencoder_model(*, features: int = 640, code: int = 8, legacy_opcodes: bool = False) -> bytes:
    """[1,640] -FC-> [1,8] -FC-> [1,640]: a reconstruction model like MLPerf Tiny's anomaly detector (its
    output is the input rebuilt, not one score per class)."""
    b = ModelBuilder()
    x = b.tensor("x", [1, features])
    h = b.tensor("h", [1, code])
    y = b.tensor("y", [1, features])
    b.fully_connected(x, b.weights("enc_w", [code, features]), b.weights("enc_b", [code], 1), h)
    b.fully_connected(h, b.weights("dec_w", [features, code], 2), b.weights("dec_b", [features], 3), y)
    return b.finish([x], [y], legacy_opcodes=legacy_opcodes)
