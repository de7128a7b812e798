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

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from graph_builder import OPSET, BlockQuantized, Graph, Hparams, inv_freq, q8_blocks  # noqa: E402,F401
from packed_layers import packed_layers  # noqa: E402

def _rotate_half(g, x, half):
    """[x1, x2] -> [-x2, x1] over the last axis (the Hugging Face rotary layout)."""
    first = g.op("Slice", [x, g.const(np.int64([0])), g.const(np.int64([half])), g.const(np.int64([-1]))])
    second = g.op("Slice", [x, g.const(np.int64([half])), g.const(np.int64([2 * half])), g.const(np.int64([-1]))])
    return g.op("Concat", [g.op("Neg", [second]), first], axis=-1)


def _rope(g, x, cos, sin, half):
    return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [_rotate_half(g, x, half), sin])])


def _rotary_tables(g, hp):
    """cos/sin [B,1,S,D] from position_ids, broadcast over heads."""
    half = hp.head_dim // 2
    pos = g.op("Cast", ["position_ids"], to=TensorProto.FLOAT)
    pos = g.op("Unsqueeze", [pos, g.const(np.int64([-1]))])
    freqs = g.op("Mul", [pos, g.const(inv_freq(hp).astype(np.float32).reshape(1, 1, half))])
    emb = g.op("Concat", [freqs, freqs], axis=-1)
    axis = g.const(np.int64([1]))
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


def _mlp(g, x, w):
    gate = g.linear(x, w["gate"])
    silu = g.op("Mul", [gate, g.op("Sigmoid", [gate])])
    return g.linear(g.op("Mul", [silu, g.linear(x, w["up"])]), w["down"])


def _left_padded_layers(g, hp, weights, x):
    """The Hugging Face / optimum layers over left-padded rows: x [B,S,H]
    embeddings -> the final-normed hidden states of the last
    num_logits_to_keep positions."""
    cos, sin = _rotary_tables(g, hp)
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
        x = g.op("Add", [x, _attention(g, hp, g.rms_norm(x, attn_norm, hp.rms_eps), w, i, cos, sin, bias)])
        x = g.op("Add", [x, _mlp(g, g.rms_norm(x, ffn_norm, hp.rms_eps), w)])
    keep = g.op("Neg", [g.op("Reshape", ["num_logits_to_keep", g.const(np.int64([1]))])])
    x = g.op("Slice", [x, keep, g.const(np.int64([2**62])), g.const(np.int64([1]))])
    return g.rms_norm(x, g.const(weights["norm"].astype(np.float32), "norm"), hp.rms_eps)


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


# ONNX Runtime repacks each MatMulNBits weight for its kernel at load and
# frees the stored copy only once that weight is done, so for a moment the
# largest weight is held twice: the output head (vocabulary x width) is by far
# the largest, so it runs in slices of the vocabulary of at most this size.
HEAD_SLICE_BYTES = 16 << 20


def _output_projection(g, x, head: BlockQuantized):
    """logits [batch, seq, vocab] = x @ head^T as MatMulNBits over slices of
    the vocabulary (rows in multiples of 128, each slice's q at most
    HEAD_SLICE_BYTES unless 128 rows are more), concatenated. Each logit is
    the dot product of its own row either way; slicing only bounds the
    memory a load peaks at."""
    vocab = head.q.shape[0]
    row_bytes = head.q.shape[1] * 32 * head.bits // 8
    rows = max(128, HEAD_SLICE_BYTES // row_bytes // 128 * 128)
    parts = []
    for i, start in enumerate(range(0, vocab, rows)):
        stop = min(vocab, start + rows)
        piece = BlockQuantized(head.bits, head.q[start:stop], head.scale[start:stop],
                               None if head.offset is None else head.offset[start:stop])
        parts.append(g.linear(x, g.quantized(piece, f"lm_head.{i}")))
    return parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=-1)


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
    g = Graph(weight_dtype)
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
    if packed:
        x = packed_layers(g, hp, weights, x)
    else:
        x = _left_padded_layers(g, hp, weights, x)
    # Tied embeddings: logits = x @ embed^T, done as a 2-D Gemm with transB so
    # the embedding matrix is not stored twice.
    if head is not None:
        logits = _output_projection(g, x, head)
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
