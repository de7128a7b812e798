"""Builds a Llama-style decoder as an ONNX graph in the Hugging Face / optimum
layout that refinery's `lm` crate loads.

Inputs:  input_ids [B,S] int64, attention_mask [B,P+S] int64,
         position_ids [B,S] int64, past_key_values.N.key/.value [B,KV,P,D] f32,
         num_logits_to_keep [] int64 (0 = all positions)
Outputs: logits [B,K,V] f32 (the last K positions),
         present.N.key/.value [B,KV,P+S,D] f32

num_logits_to_keep (the name Hugging Face uses) lets generation compute the
vocabulary projection for the last position only: on a 100-token prompt the
projection for every position would cost as much as ten decoding steps.

Float weights use only standard ONNX operators (opset 17), so any ONNX
Runtime runs them; quantized weights (BlockQuantized) use ONNX Runtime's
com.microsoft MatMulNBits and GatherBlockQuantized. ONNX Runtime fuses the
RMSNorm and attention patterns itself at load time.
Weights may be stored as float16 to halve the file; a Cast to float32 follows
each one and is constant-folded when the session is created.

Shared by the GGUF converter (real weights) and the tiny test-model script
(random weights), so tests exercise the same graph as the real model.
"""

from dataclasses import dataclass

import numpy as np
import onnx
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

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


class _Graph:
    """Just enough of a graph builder to keep the decoder readable."""

    def __init__(self, weight_dtype):
        self.nodes, self.inits, self.weight_dtype = [], [], weight_dtype
        self.count = 0

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
        blocks = self.op("Reshape", [x, self.const(np.int64([0, 0, k // 32, 32]))])
        sums = self.op("ReduceSum", [blocks, self.const(np.int64([-1]))], keepdims=0)
        return self.op("Add", [out, self.op("MatMul", [sums, offset])])


def _rotate_half(g, x, half):
    """[x1, x2] -> [-x2, x1] over the last axis (the Hugging Face rotary layout)."""
    first = g.op("Slice", [x, g.const(np.int64([0])), g.const(np.int64([half])), g.const(np.int64([-1]))])
    second = g.op("Slice", [x, g.const(np.int64([half])), g.const(np.int64([2 * half])), g.const(np.int64([-1]))])
    return g.op("Concat", [g.op("Neg", [second]), first], axis=-1)


def _rope(g, x, cos, sin, half):
    return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [_rotate_half(g, x, half), sin])])


def _rotary_tables(g, hp, head_axis=1):
    """cos/sin from position_ids, broadcast over heads: [B,1,S,D] for the
    [B,H,S,D] layout (head_axis 1), [B,S,1,D] for [B,S,H,D] (head_axis 2)."""
    half = hp.head_dim // 2
    inv_freq = 1.0 / (hp.rope_base ** (np.arange(0, half, dtype=np.float64) * 2 / hp.head_dim))
    if hp.rope_freq_factors is not None:
        inv_freq = inv_freq / np.asarray(hp.rope_freq_factors, np.float64)
    pos = g.op("Cast", ["position_ids"], to=TensorProto.FLOAT)
    pos = g.op("Unsqueeze", [pos, g.const(np.int64([-1]))])
    freqs = g.op("Mul", [pos, g.const(inv_freq.astype(np.float32).reshape(1, 1, half))])
    emb = g.op("Concat", [freqs, freqs], axis=-1)
    axis = g.const(np.int64([head_axis]))
    cos = g.op("Unsqueeze", [g.op("Cos", [emb]), axis])
    sin = g.op("Unsqueeze", [g.op("Sin", [emb]), axis])
    return cos, sin


def _attention_bias(g):
    """[B,1,S,T] additive bias: 0 where a query may attend, a large negative
    elsewhere (padding, or a key after the query). Finite, so a row that sees
    nothing (a left pad) gives a uniform softmax instead of NaN."""
    ids_shape = g.op("Shape", ["input_ids"])
    mask_shape = g.op("Shape", ["attention_mask"])
    seq = g.op("Gather", [ids_shape, g.const(np.int64(1))], axis=0)
    total = g.op("Gather", [mask_shape, g.const(np.int64(1))], axis=0)
    past = g.op("Sub", [total, seq])
    zero, one = g.const(np.int64(0)), g.const(np.int64(1))
    key_idx = g.op("Range", [zero, total, one])  # [T]
    query_idx = g.op("Add", [g.op("Range", [zero, seq, one]), past])  # [S]
    query_idx = g.op("Unsqueeze", [query_idx, g.const(np.int64([1]))])  # [S,1]
    causal = g.op("LessOrEqual", [key_idx, query_idx])  # [S,T]
    keep = g.op("Cast", ["attention_mask"], to=TensorProto.BOOL)
    keep = g.op("Unsqueeze", [keep, g.const(np.int64([1, 2]))])  # [B,1,1,T]
    allowed = g.op("And", [causal, keep])  # [B,1,S,T]
    return g.op("Where", [allowed, g.const(np.float32(0.0)), g.const(np.float32(-1e30))])


def _attention(g, hp, x, w, layer, cos, sin, bias):
    d, half = hp.head_dim, hp.head_dim // 2
    rep = hp.heads // hp.kv_heads

    def heads(t, n):  # [B,S,n*d] -> [B,n,S,d]
        return g.op("Transpose", [g.op("Reshape", [t, g.const(np.int64([0, 0, n, d]))])], perm=[0, 2, 1, 3])

    def project(name):
        y = g.linear(x, w[name])
        return g.op("Add", [y, w[name + "_bias"]]) if name + "_bias" in w else y

    q = _rope(g, heads(project("q"), hp.heads), cos, sin, half)
    k = _rope(g, heads(project("k"), hp.kv_heads), cos, sin, half)
    v = heads(project("v"), hp.kv_heads)
    key = g.op("Concat", [f"past_key_values.{layer}.key", k], axis=2)
    value = g.op("Concat", [f"past_key_values.{layer}.value", v], axis=2)
    g.nodes.append(helper.make_node("Identity", [key], [f"present.{layer}.key"]))
    g.nodes.append(helper.make_node("Identity", [value], [f"present.{layer}.value"]))

    def repeat_kv(t):  # [B,KV,T,d] -> [B,H,T,d], head h reads kv head h // rep
        if rep == 1:
            return t
        t = g.op("Unsqueeze", [t, g.const(np.int64([2]))])
        t = g.op("Expand", [t, g.const(np.int64([1, 1, rep, 1, 1]))])
        return g.op("Reshape", [t, g.const(np.int64([0, hp.heads, -1, d]))])

    scores = g.op("MatMul", [q, g.op("Transpose", [repeat_kv(key)], perm=[0, 1, 3, 2])])
    scores = g.op("Add", [g.op("Mul", [scores, g.const(np.float32(1.0 / np.sqrt(d)))]), bias])
    probs = g.op("Softmax", [scores], axis=-1)
    out = g.op("MatMul", [probs, repeat_kv(value)])
    out = g.op("Reshape", [g.op("Transpose", [out], perm=[0, 2, 1, 3]), g.const(np.int64([0, 0, hp.hidden]))])
    return g.linear(out, w["o"])


def _packed_lengths(g):
    """What GroupQueryAttention reads from the mask: seqlens_k [B] int32 (each
    row's real tokens, past and new, minus one) and total_sequence_length []
    int32 (the mask's width)."""
    real = g.op("ReduceSum", ["attention_mask", g.const(np.int64([1]))], keepdims=0)
    seqlens = g.op("Cast", [g.op("Sub", [real, g.const(np.int64(1))])], to=TensorProto.INT32)
    width = g.op("Gather", [g.op("Shape", ["attention_mask"]), g.const(np.int64(1))], axis=0)
    return seqlens, g.op("Cast", [width], to=TensorProto.INT32)


def _attention_packed(g, hp, x, w, layer, cos, sin, lengths):
    """Attention by com.microsoft GroupQueryAttention over a cache whose rows
    are packed to the left (right padding): each row attends to exactly its
    own keys, so its arithmetic is the same whatever else is in the batch."""
    d = hp.head_dim

    def rotated(t, n):  # [B,S,n*d], rotary applied over [B,S,n,d]
        t = g.op("Reshape", [t, g.const(np.int64([0, 0, n, d]))])
        t = _rope(g, t, cos, sin, d // 2)
        return g.op("Reshape", [t, g.const(np.int64([0, 0, n * d]))])

    def project(name):
        y = g.linear(x, w[name])
        return g.op("Add", [y, w[name + "_bias"]]) if name + "_bias" in w else y

    seqlens, total = lengths
    inputs = [rotated(project("q"), hp.heads), rotated(project("k"), hp.kv_heads), project("v"),
              f"past_key_values.{layer}.key", f"past_key_values.{layer}.value", seqlens, total]
    out = g.name("gqa")
    g.nodes.append(helper.make_node("GroupQueryAttention", inputs,
                                    [out, f"present.{layer}.key", f"present.{layer}.value"],
                                    domain="com.microsoft", num_heads=hp.heads, kv_num_heads=hp.kv_heads,
                                    scale=float(1.0 / np.sqrt(d))))
    return g.linear(out, w["o"])


def _kept_positions(g, x, hidden):
    """The last `num_logits_to_keep` real positions of each row of x [B,S,H]
    (all S when it is 0). Rows are right-padded, so a row's last real token
    is at (its real tokens among the S new ones) - 1, counted from the mask's
    last S columns; a cached prefix counts as real everywhere."""
    seq = g.op("Gather", [g.op("Shape", ["input_ids"]), g.const(np.int64(1))], axis=0)
    keep = g.op("Reshape", ["num_logits_to_keep", g.const(np.int64([]))])
    keep = g.op("Where", [g.op("Equal", [keep, g.const(np.int64(0))]), seq, g.op("Min", [keep, seq])])
    new_cols = g.op("Slice", ["attention_mask", g.op("Neg", [g.op("Unsqueeze", [seq, g.const(np.int64([0]))])]),
                              g.const(np.int64([2**62])), g.const(np.int64([1]))])
    count = g.op("ReduceSum", [new_cols, g.const(np.int64([1]))], keepdims=1)  # [B,1]
    first = g.op("Max", [g.op("Sub", [count, keep]), g.const(np.int64(0))])
    idx = g.op("Add", [g.op("Range", [g.const(np.int64(0)), keep, g.const(np.int64(1))]), first])  # [B,K]
    idx = g.op("Min", [idx, g.op("Sub", [seq, g.const(np.int64(1))])])
    idx = g.op("Unsqueeze", [idx, g.const(np.int64([2]))])
    shape = g.op("Concat", [g.op("Shape", [idx], end=2), g.const(np.int64([hidden]))], axis=0)
    return g.op("GatherElements", [x, g.op("Expand", [idx, shape])], axis=1)


def _mlp(g, x, w):
    gate = g.linear(x, w["gate"])
    silu = g.op("Mul", [gate, g.op("Sigmoid", [gate])])
    return g.linear(g.op("Mul", [silu, g.linear(x, w["up"])]), w["down"])


def _gather_block_quantized(g, table: BlockQuantized, hidden):
    """Token embeddings from a 4-bit table kept as it is stored: com.microsoft
    GatherBlockQuantized gives scale * (q - 8) per row; the per-block offset
    (Q4_1 / Q4_K minimums) is gathered beside it and added. A 151936 x 1536
    table takes 175 MB this way instead of 467 MB as float16."""
    assert table.bits == 4
    vocab, blocks = table.q.shape[:2]
    packed = table.packed().reshape(vocab, -1)
    data = g.const(np.ascontiguousarray(packed), "embed_tokens.q")
    scale = g.const(np.ascontiguousarray(table.scale, dtype=np.float32), "embed_tokens.scale")
    rows = g.name("embed_rows")
    g.nodes.append(helper.make_node("GatherBlockQuantized", [data, "input_ids", scale], [rows],
                                    domain="com.microsoft", gather_axis=0, quantize_axis=1,
                                    block_size=32, bits=4))
    if table.offset is None:
        return rows
    offset = g.const(np.ascontiguousarray(table.offset, dtype=np.float32), "embed_tokens.offset")
    per_block = g.op("Unsqueeze", [g.op("Gather", [offset, "input_ids"], axis=0), g.const(np.int64([-1]))])
    blocked = g.op("Reshape", [rows, g.const(np.int64([0, 0, blocks, 32]))])
    return g.op("Reshape", [g.op("Add", [blocked, per_block]), g.const(np.int64([0, 0, hidden]))])


def build_decoder(hp: Hparams, weights: dict, weight_dtype=np.float16, producer="refinery",
                  packed=True) -> onnx.ModelProto:
    """weights: `embed` [V,H] (float, or a 4-bit BlockQuantized table, which
    needs `lm_head`); `norm` [H]; per layer i: `{i}.attn_norm`,
    `{i}.ffn_norm` [H] and `{i}.q/k/v/o/gate/up/down` stored [in, out]
    (or BlockQuantized [out, in]), optional `{i}.q_bias/k_bias/v_bias` [out];
    optional `lm_head`: a BlockQuantized output projection (a quantized copy
    of the tied embedding, or an untied one).

    packed (the default): rows are right-padded and attention is
    GroupQueryAttention (lm.json says `"padding_side": "right"`); a row's
    logits do not depend on the other rows of its batch. packed=False: the
    Hugging Face / optimum graph, left-padded, attention from standard
    operators with an additive mask (the layout exported models have)."""
    g = _Graph(weight_dtype)
    head = weights.get("lm_head")
    if isinstance(weights["embed"], BlockQuantized):
        if head is None:
            raise ValueError("a quantized embedding table needs a quantized lm_head (the tied Gemm reads floats)")
        x = _gather_block_quantized(g, weights["embed"], hp.hidden)
    elif head is None:
        embed = g.weight(weights["embed"], "embed_tokens")
        x = g.op("Gather", [embed, "input_ids"], axis=0)
    else:
        # The table is only gathered from: rows are cast after the Gather, so
        # the runtime keeps it in its stored type instead of widening it all.
        stored = np.ascontiguousarray(weights["embed"], dtype=weight_dtype)
        g.inits.append(numpy_helper.from_array(stored, "embed_tokens"))
        x = g.op("Gather", ["embed_tokens", "input_ids"], axis=0)
        if weight_dtype != np.float32:
            x = g.op("Cast", [x], to=TensorProto.FLOAT)
    cos, sin = _rotary_tables(g, hp, head_axis=2 if packed else 1)
    if packed:
        lengths = _packed_lengths(g)
    else:
        bias = _attention_bias(g)
    for i in range(hp.layers):
        w = {}
        for k in ("q", "k", "v", "o", "gate", "up", "down"):
            wk = weights[f"{i}.{k}"]
            name = f"layers.{i}.{k}"
            w[k] = g.quantized(wk, name) if isinstance(wk, BlockQuantized) else g.weight(wk, name)
            if f"{i}.{k}_bias" in weights:
                w[k + "_bias"] = g.const(weights[f"{i}.{k}_bias"].astype(np.float32), f"{name}.bias")
        attn_norm = g.const(weights[f"{i}.attn_norm"].astype(np.float32), f"layers.{i}.attn_norm")
        ffn_norm = g.const(weights[f"{i}.ffn_norm"].astype(np.float32), f"layers.{i}.ffn_norm")
        h = g.rms_norm(x, attn_norm, hp.rms_eps)
        if packed:
            x = g.op("Add", [x, _attention_packed(g, hp, h, w, i, cos, sin, lengths)])
        else:
            x = g.op("Add", [x, _attention(g, hp, h, w, i, cos, sin, bias)])
        x = g.op("Add", [x, _mlp(g, g.rms_norm(x, ffn_norm, hp.rms_eps), w)])
    if packed:
        x = _kept_positions(g, x, hp.hidden)
    else:
        keep = g.op("Neg", [g.op("Reshape", ["num_logits_to_keep", g.const(np.int64([1]))])])
        x = g.op("Slice", [x, keep, g.const(np.int64([2**62])), g.const(np.int64([1]))])
    x = g.rms_norm(x, g.const(weights["norm"].astype(np.float32), "norm"), hp.rms_eps)
    # Tied embeddings: logits = x @ embed^T, done as a 2-D Gemm with transB so
    # the embedding matrix is not stored twice.
    if head is not None:
        logits = g.linear(x, g.quantized(head, "lm_head"))
    else:
        flat = g.op("Reshape", [x, g.const(np.int64([-1, hp.hidden]))])
        logits = g.op("Gemm", [flat, embed], transB=1)
    out_shape = g.op("Concat", [g.op("Shape", [x], end=2), g.const(np.int64([hp.vocab]))], axis=0)
    g.nodes.append(helper.make_node("Reshape", [logits, out_shape], ["logits"]))

    kv = ["batch", hp.kv_heads, "past", hp.head_dim]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "total"]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "seq"]),
        helper.make_tensor_value_info("num_logits_to_keep", TensorProto.INT64, []),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "kept", hp.vocab])]
    for i in range(hp.layers):
        for part in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{part}", TensorProto.FLOAT, kv))
            outputs.append(
                helper.make_tensor_value_info(
                    f"present.{i}.{part}", TensorProto.FLOAT, ["batch", hp.kv_heads, "total", hp.head_dim]
                )
            )
    graph = helper.make_graph(g.nodes, "decoder", inputs, outputs, g.inits)
    opsets = [helper.make_opsetid("", OPSET)]
    if any(n.domain == "com.microsoft" for n in g.nodes):
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name=producer)
    model.ir_version = 8
    if len(opsets) == 1:
        onnx.checker.check_model(model, full_check=False)
    return model
