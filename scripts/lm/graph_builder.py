"""The pieces both decoder graphs are built from: a small ONNX graph
builder, the Hparams of a Llama-family model, and weights kept in
quantized blocks for ONNX Runtime's MatMulNBits."""

from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


@dataclass
class BlockQuantized:
    """A [out, in] matrix in blocks of 32 along `in`, kept quantized:
    w = scale * (q - zero) + offset per block, q unsigned `bits`-bit.
    Run by ONNX Runtime's com.microsoft MatMulNBits (zero point 8 for 4 bits,
    128 for 8 bits); a per-block `offset` (the value at the zero point: from
    GGUF Q4_1's minimum or Q4_K's scaled minimum) is added as (sum of x over
    the block) @ offset, a small matmul."""

    bits: int
    q: np.ndarray  # [out, blocks, 32] uint8
    scale: np.ndarray  # [out, blocks] float32
    offset: np.ndarray = None  # [out, blocks] float32, or None

    def packed(self):
        """4-bit q two to a byte, as MatMulNBits and GatherBlockQuantized read
        it: element 2i in the low nibble, 2i + 1 in the high one."""
        return (self.q[:, :, 0::2] | (self.q[:, :, 1::2] << 4)).astype(np.uint8)

    @property
    def shape(self):
        return (self.q.shape[0], self.q.shape[1] * 32)

    @staticmethod
    def fusable(parts):
        """Whether matrices of one input can run as one MatMulNBits: same
        bits, same width, offsets on all or none."""
        return (all(isinstance(p, BlockQuantized) for p in parts)
                and len({(p.bits, p.q.shape[1], p.offset is None) for p in parts}) == 1)

    @staticmethod
    def concat(parts):
        """Fusable matrices stacked along `out`: one product gives them all."""
        offsets = None if parts[0].offset is None else np.concatenate([p.offset for p in parts])
        return BlockQuantized(parts[0].bits, np.concatenate([p.q for p in parts]),
                              np.concatenate([p.scale for p in parts]), offsets)


def q8_blocks(w):
    """A float [out, in] matrix as symmetric 8-bit blocks of 32 along `in`
    (scale = max |w| / 127 per block; zero point 128)."""
    rows, cols = w.shape
    b = w.reshape(rows, cols // 32, 32)
    scale = np.abs(b).max(axis=-1) / 127.0
    safe = np.where(scale == 0, 1.0, scale)
    q = np.clip(np.rint(b / safe[..., None]), -127, 127).astype(np.int16) + 128
    return BlockQuantized(bits=8, q=q.astype(np.uint8), scale=scale.astype(np.float32))


@dataclass
class Hparams:
    layers: int
    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    vocab: int
    rope_base: float
    rms_eps: float
    context_length: int
    # Qwen2: biases on the Q, K and V projections.
    qkv_bias: bool = False
    # Rope scaling as llama.cpp stores it (the `rope_freqs` tensor of Llama
    # 3.1/3.2 GGUFs, or a linear factor): [head_dim / 2] divisors of the
    # rotary frequencies; None for none.
    rope_freq_factors: np.ndarray = None
    # Head width when it is not hidden / heads (Gemma 3: key_length).
    key_length: int = 0
    # Gemma 3's layer (packed graphs only): embeddings scaled by
    # sqrt(hidden), RMSNorm of each Q and K head, norms after attention and
    # after the MLP, GeLU (tanh) gating; layers whose index + 1 is not a
    # multiple of `global_every` attend to the last `sliding_window` tokens
    # with rope base `rope_local_base`, the others to all with `rope_base`
    # (and the rope scaling, if any).
    gemma3: bool = False
    sliding_window: int = 0
    global_every: int = 0
    rope_local_base: float = 10000.0

    def is_local(self, layer: int) -> bool:
        return self.gemma3 and (layer + 1) % self.global_every != 0

    @property
    def head_dim(self) -> int:
        return self.key_length or self.hidden // self.heads


def inv_freq(hp: Hparams, local=False) -> np.ndarray:
    """The rotary frequencies [head_dim / 2] (float64), divided by the rope
    scaling factors when the model has them; local: Gemma 3's sliding-window
    layers (their own base, no scaling)."""
    half = hp.head_dim // 2
    base = hp.rope_local_base if local else hp.rope_base
    freqs = 1.0 / (base ** (np.arange(0, half, dtype=np.float64) * 2 / hp.head_dim))
    if hp.rope_freq_factors is not None and not local:
        freqs = freqs / np.asarray(hp.rope_freq_factors, np.float64)
    return freqs


class Graph:
    """Just enough of a graph builder to keep the decoder readable."""

    def __init__(self, weight_dtype):
        self.nodes, self.inits, self.weight_dtype = [], [], weight_dtype
        self.count = 0
        self.block_sums = {}  # input name -> its sums over blocks of 32, for offsets

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def const(self, array, hint="const"):
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, array, name):
        """A float weight, stored in weight_dtype and cast to float32."""
        stored = np.ascontiguousarray(array, dtype=self.weight_dtype)
        self.inits.append(numpy_helper.from_array(stored, name))
        if self.weight_dtype == np.float32:
            return name
        return self.op("Cast", [name], hint=name + ".f32", to=TensorProto.FLOAT)

    def rms_norm(self, x, weight, eps):
        sq = self.op("Mul", [x, x])
        mean = self.op("ReduceMean", [sq], axes=[-1], keepdims=1)
        denom = self.op("Sqrt", [self.op("Add", [mean, self.const(np.float32(eps))])])
        return self.op("Mul", [self.op("Div", [x, denom]), weight])

    def linear(self, x, w):
        if isinstance(w, tuple):  # a quantized weight, see quantized()
            return self.quantized_matmul(x, *w)
        return self.op("MatMul", [x, w])

    def quantized(self, wq: BlockQuantized, name):
        """Initializers for MatMulNBits; returns what linear() needs."""
        n, blocks = wq.q.shape[:2]
        if wq.bits == 4:
            packed = wq.packed()
            zero = None
        else:
            packed = wq.q.astype(np.uint8)
            zero = self.const(np.full(n * blocks, 128, np.uint8), name + ".zero")
        b = self.const(np.ascontiguousarray(packed), name + ".q")
        scale = self.const(wq.scale.reshape(-1).astype(np.float32), name + ".scale")
        offset = None if wq.offset is None else self.const(np.ascontiguousarray(wq.offset.T.astype(np.float32)), name + ".offset")
        return (b, scale, zero, offset, n, blocks * 32, wq.bits)

    def quantized_matmul(self, x, b, scale, zero, offset, n, k, bits):
        inputs = [x, b, scale] + ([zero] if zero else [])
        out = self.name("matmul_nbits")
        self.nodes.append(helper.make_node("MatMulNBits", inputs, [out], domain="com.microsoft",
                                           K=k, N=n, bits=bits, block_size=32, accuracy_level=4))
        if offset is None:
            return out
        if x not in self.block_sums:
            blocks = self.op("Reshape", [x, self.const(np.int64([0, 0, k // 32, 32]))])
            self.block_sums[x] = self.op("ReduceSum", [blocks, self.const(np.int64([-1]))], keepdims=0)
        return self.op("Add", [out, self.op("MatMul", [self.block_sums[x], offset])])
