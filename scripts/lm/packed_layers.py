"""The decoder layers of refinery's own graphs, over a KV cache whose rows
are packed from column 0 (right padding; lm.json `"padding_side":
"right"`).

Attention is ONNX Runtime's com.microsoft GroupQueryAttention, which takes
each row's length from the mask and attends to exactly that row's keys, so
a row's arithmetic is the same whatever else is in its batch (with left
padding a row's keys move within the attention's vectorised sums, and 8-bit
activations turn that into other tokens). The same op applies the rotary
embedding from cos/sin tables, which keeps position_ids out of the graph's
arithmetic (positions follow from the mask).

Decoding one token at batch 1 is bound by per-node overhead as much as by
reading weights, so the layers use as few nodes as the model allows:
projections of one input whose blocks match (Q, K and V; gate and up) run
as one MatMulNBits, the residual add and the next RMSNorm are one
SkipSimplifiedLayerNormalization.
"""

import numpy as np
from onnx import TensorProto, helper

from graph_builder import BlockQuantized, Graph, Hparams, inv_freq


def packed_layers(g: Graph, hp: Hparams, weights: dict, x: str) -> str:
    """x [B,S,H] embeddings -> the final-normed hidden states [B,K,H] at each
    row's last num_logits_to_keep real positions (all S when it is 0)."""
    lengths = _lengths(g)
    rotary = {False: _rotary_caches(g, hp, local=False)}
    if hp.gemma3:
        rotary[True] = _rotary_caches(g, hp, local=True)
        x = g.op("Mul", [x, g.const(np.float32(np.sqrt(hp.hidden)))])

    def gamma(name):
        return g.const(weights[name].astype(np.float32), name)

    def norm(t, name):
        return g.op("SimplifiedLayerNormalization", [t, gamma(name)], axis=-1, epsilon=hp.rms_eps)

    h = norm(x, "0.attn_norm")
    for i in range(hp.layers):
        attn = _attention(g, hp, h, weights, i, lengths, rotary[hp.is_local(i)])
        if hp.gemma3:
            attn = norm(attn, f"{i}.post_attn_norm")
        h, x = _skip_norm(g, x, attn, gamma(f"{i}.ffn_norm"), hp.rms_eps)
        mlp = _mlp(g, hp, h, weights, i)
        if hp.gemma3:
            mlp = norm(mlp, f"{i}.post_ffn_norm")
        after = gamma(f"{i + 1}.attn_norm") if i + 1 < hp.layers else gamma("norm")
        h, x = _skip_norm(g, x, mlp, after, hp.rms_eps)
    return _kept_positions(g, h, hp.hidden)


def _skip_norm(g, x, delta, gamma, eps):
    """(RMSNorm(x + delta) * gamma, x + delta) in one node."""
    normed, total = g.name("norm"), g.name("residual")
    g.nodes.append(helper.make_node("SkipSimplifiedLayerNormalization", [x, delta, gamma], [normed, "", "", total],
                                    domain="com.microsoft", epsilon=eps))
    return normed, total


def _lengths(g):
    """What GroupQueryAttention reads from the mask: seqlens_k [B] int32 (each
    row's real tokens, past and new, minus one) and total_sequence_length []
    int32 (the mask's width)."""
    real = g.op("ReduceSum", ["attention_mask", g.const(np.int64([1]))], keepdims=0)
    seqlens = g.op("Cast", [g.op("Sub", [real, g.const(np.int64(1))])], to=TensorProto.INT32)
    width = g.op("Gather", [g.op("Shape", ["attention_mask"]), g.const(np.int64(1))], axis=0)
    return seqlens, g.op("Cast", [width], to=TensorProto.INT32)


def _rotary_caches(g, hp, local):
    """cos/sin [context_length, head_dim / 2] for GroupQueryAttention's
    rotary (the rotate-half layout), computed in float64."""
    angles = np.arange(hp.context_length, dtype=np.float64)[:, None] * inv_freq(hp, local)[None, :]
    name = "rotary_local" if local else "rotary"
    return (g.const(np.cos(angles).astype(np.float32), name + ".cos"),
            g.const(np.sin(angles).astype(np.float32), name + ".sin"))


def _head_norm(g, hp, t, heads, gamma):
    """Gemma 3's RMSNorm of each head of t [B,S,heads*d]."""
    t = g.op("Reshape", [t, g.const(np.int64([0, 0, heads, hp.head_dim]))])
    t = g.op("SimplifiedLayerNormalization", [t, gamma], axis=-1, epsilon=hp.rms_eps)
    return g.op("Reshape", [t, g.const(np.int64([0, 0, heads * hp.head_dim]))])


def _project(g, x, parts, name, biases=None):
    """x times each [out, in] matrix of `parts`: one MatMulNBits for all of
    them when their blocks match (then a single output, the products side
    by side), else one product each. Returns the list of outputs."""
    if BlockQuantized.fusable(parts) and len(parts) > 1:
        y = g.linear(x, g.quantized(BlockQuantized.concat(parts), name))
        if biases is not None:
            y = g.op("Add", [y, g.const(np.concatenate(biases).astype(np.float32), name + ".bias")])
        return [y]
    outs = []
    for j, w in enumerate(parts):
        w = g.quantized(w, f"{name}.{j}") if isinstance(w, BlockQuantized) else g.weight(w, f"{name}.{j}")
        y = g.linear(x, w)
        if biases is not None:
            y = g.op("Add", [y, g.const(biases[j].astype(np.float32), f"{name}.{j}.bias")])
        outs.append(y)
    return outs


def _attention(g, hp, h, weights, i, lengths, rotary):
    names = [f"{i}.q", f"{i}.k", f"{i}.v"]
    biases = [weights[n + "_bias"] for n in names] if f"{i}.q_bias" in weights else None
    qkv = _project(g, h, [weights[n] for n in names], f"layers.{i}.qkv", biases)
    # One output: Q, K and V side by side, which GroupQueryAttention takes packed.
    q, k, v = (qkv[0], "", "") if len(qkv) == 1 else qkv
    if hp.gemma3:
        if len(qkv) == 1:
            q, k, v = g.name("q"), g.name("k"), g.name("v")
            kv = hp.kv_heads * hp.head_dim
            g.nodes.append(helper.make_node("Split", [qkv[0], g.const(np.int64([hp.heads * hp.head_dim, kv, kv]))],
                                            [q, k, v], axis=-1))
        q = _head_norm(g, hp, q, hp.heads, g.const(weights[f"{i}.q_norm"].astype(np.float32), f"{i}.q_norm"))
        k = _head_norm(g, hp, k, hp.kv_heads, g.const(weights[f"{i}.k_norm"].astype(np.float32), f"{i}.k_norm"))
    seqlens, total = lengths
    out = g.name("attention")
    # A query sees the last sliding_window tokens, itself included, in Gemma 3
    # and in ONNX Runtime 1.31's local_window_size (checked by the tiny
    # Gemma 3 parity test against transformers' definition and llama.cpp).
    window = {"local_window_size": hp.sliding_window} if hp.is_local(i) else {}
    g.nodes.append(helper.make_node(
        "GroupQueryAttention",
        [q, k, v, f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens, total, *rotary],
        [out, f"present.{i}.key", f"present.{i}.value"], domain="com.microsoft",
        num_heads=hp.heads, kv_num_heads=hp.kv_heads, scale=float(1.0 / np.sqrt(hp.head_dim)),
        do_rotary=1, rotary_interleaved=0, **window))
    o = weights[f"{i}.o"]
    return g.linear(out, g.quantized(o, f"layers.{i}.o") if isinstance(o, BlockQuantized) else g.weight(o, f"layers.{i}.o"))


def _mlp(g, hp, h, weights, i):
    gate_up = _project(g, h, [weights[f"{i}.gate"], weights[f"{i}.up"]], f"layers.{i}.gate_up")
    if len(gate_up) == 1:
        gate, up = g.name("gate"), g.name("up")
        g.nodes.append(helper.make_node("Split", [gate_up[0], g.const(np.int64([hp.ffn, hp.ffn]))], [gate, up],
                                        axis=-1))
    else:
        gate, up = gate_up
    if hp.gemma3:  # GeLU with the tanh approximation (gelu_pytorch_tanh)
        silu = g.op("FastGelu", [gate], domain="com.microsoft")
    else:
        silu = g.op("Mul", [gate, g.op("Sigmoid", [gate])])
    down = weights[f"{i}.down"]
    down = g.quantized(down, f"layers.{i}.down") if isinstance(down, BlockQuantized) else g.weight(down, f"layers.{i}.down")
    return g.linear(g.op("Mul", [silu, up]), down)


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
