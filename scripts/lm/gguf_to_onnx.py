"""Converts a GGUF file of a Llama or Qwen2 architecture model into a
refinery model directory:

    model.onnx       the decoder graph (see decoder_graph.py)
    model.onnx.data  its weights, as --weights says (ONNX external data)
    tokenizer.json   a Hugging Face tokenizer rebuilt from the GGUF vocabulary
    lm.json          context length, special tokens, chat template, provenance

Uses only numpy, gguf, onnx and tokenizers (no torch). Quantised tensors are
dequantised with the gguf package. llama.cpp stores the rows of the Q and K
projections permuted for its interleaved rotary embedding; that permutation
is undone here so the graph can use the Hugging Face rotate-half layout.

--weights q4 (what `make models` uses) keeps the Q4_1 and Q4_K projections
and the output head quantized (other types, such as a Q4_K_M file's Q6_K
tensors, become 8-bit blocks of 32), run by ONNX Runtime's MatMulNBits at
accuracy level 4 (activations quantized to 8 bits per block of 32, integer
dot products, as llama.cpp does), and gathers token embeddings from a 4-bit
table with GatherBlockQuantized: the GGUF's own values, a quarter of the
bytes to read per token. The output head runs in vocabulary slices of at
most 16 MB (decoder_graph.HEAD_SLICE_BYTES): ONNX Runtime holds a weight
twice while it repacks it at load, so this bounds the load's peak memory.
--weights q8 requantizes every projection
(whatever its GGUF type) to 8-bit blocks of 32 and keeps the embedding table
float16. --weights f16 / f32 dequantize everything (float16 is widened to
float32 when ONNX Runtime loads it): exact float arithmetic, half the speed
of q4 at batch 1.

Whatever the weights, attention is com.microsoft GroupQueryAttention over a
KV cache whose rows are packed from column 0 (lm.json: "padding_side":
"right"), and the logits are gathered at each row's own last positions: a
row's arithmetic is the same whatever else is in its batch, so greedy and
seeded output do not change with --batch-size. (With the left padding of
Hugging Face exports, padding moves a row's keys within the attention's
vectorised sums; the float model then differs in the 5th digit, and 8-bit
activations turn that into other tokens in about half of long generations.)

Architectures: `llama` (SmolLM2; Llama 2; Llama 3, 3.1 and 3.2 with their
"llama3" rope scaling, which llama.cpp stores as a rope_freqs tensor) and `qwen2`
(Q/K/V biases, rotate-half rotary stored as is, untied or tied output, the
Qwen2 pre-tokenizer). Others are refused by name.

usage: gguf_to_onnx.py MODEL.gguf OUT_DIR [--weights q4|q8|f16|f32]
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from gguf import GGUFReader
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decoder_graph import BlockQuantized, Hparams, build_decoder, q8_blocks  # noqa: E402
from gguf import GGMLQuantizationType  # noqa: E402
from tokenizer_files import build_bpe_tokenizer, build_spm_tokenizer  # noqa: E402


def field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


# What each architecture needs: whether llama.cpp permuted the Q/K rows for
# its interleaved rotary (to undo), and whether Q/K/V carry biases.
ARCHITECTURES = {
    "llama": {"permuted_qk": True, "qkv_bias": False},
    "qwen2": {"permuted_qk": False, "qkv_bias": True},
    "gemma3": {"permuted_qk": False, "qkv_bias": False},
}


def rope_freq_factors(reader, arch, head_dim):
    """Divisors of the rotary frequencies, as llama.cpp applies them: the
    `rope_freqs` tensor (Llama 3.1/3.2's "llama3" scaling: llama.cpp's
    converter turns rope_scaling {factor, low_freq_factor, high_freq_factor,
    original_max_position_embeddings} into one factor per frequency) or a
    linear factor; None without scaling. Other kinds are refused by name."""
    kind = field(reader, f"{arch}.rope.scaling.type")
    tensors = {t.name: t for t in reader.tensors}
    if "rope_freqs.weight" in tensors:
        if kind not in (None, "none", "linear"):
            sys.exit(f"gguf_to_onnx: rope scaling {kind!r} with a rope_freqs tensor is not supported")
        factors = np.asarray(tensors["rope_freqs.weight"].data, np.float64).reshape(-1)
        if factors.shape != (head_dim // 2,):
            sys.exit(f"gguf_to_onnx: rope_freqs has {factors.size} values, expected {head_dim // 2}")
        return factors
    if kind in (None, "none"):
        return None
    if kind == "linear":
        return np.full(head_dim // 2, float(field(reader, f"{arch}.rope.scaling.factor")))
    sys.exit(f"gguf_to_onnx: rope scaling {kind!r} is not supported (known: none, linear, "
             "llama3 as a rope_freqs tensor)")


def read_hparams(reader) -> Hparams:
    arch = field(reader, "general.architecture")
    if arch not in ARCHITECTURES:
        sys.exit(f"gguf_to_onnx: architecture {arch!r} is not supported (known: {', '.join(ARCHITECTURES)})")
    hidden, heads = field(reader, f"{arch}.embedding_length"), field(reader, f"{arch}.attention.head_count")
    head_dim = field(reader, f"{arch}.attention.key_length", hidden // heads)
    gemma3 = {}
    if arch == "gemma3":
        if field(reader, "general.size_label") == "27B":
            sys.exit("gguf_to_onnx: Gemma 3 27B scales queries by hidden / heads; only the other sizes are supported")
        # llama.cpp's Gemma 3: every 6th layer attends globally, the others to
        # a sliding window with rope base 10000 (newer GGUFs name both).
        gemma3 = dict(gemma3=True, sliding_window=field(reader, "gemma3.attention.sliding_window"),
                      global_every=field(reader, "gemma3.attention.sliding_window_pattern", 6),
                      rope_local_base=float(field(reader, "gemma3.rope.freq_base_swa", 10000.0)))
    return Hparams(**gemma3, key_length=head_dim if head_dim != hidden // heads else 0,
        layers=field(reader, f"{arch}.block_count"),
        hidden=field(reader, f"{arch}.embedding_length"),
        ffn=field(reader, f"{arch}.feed_forward_length"),
        heads=field(reader, f"{arch}.attention.head_count"),
        kv_heads=field(reader, f"{arch}.attention.head_count_kv"),
        vocab=len(field(reader, "tokenizer.ggml.tokens")),
        rope_base=float(field(reader, f"{arch}.rope.freq_base", 10000.0)),
        rms_eps=float(field(reader, f"{arch}.attention.layer_norm_rms_epsilon")),
        context_length=field(reader, f"{arch}.context_length"),
        qkv_bias=ARCHITECTURES[arch]["qkv_bias"],
        rope_freq_factors=rope_freq_factors(reader, arch, head_dim),
    )


def unpermute(w, heads):
    """Undo llama.cpp's row permutation of a Q/K matrix stored [out, in]."""
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def q4k_scale_min(scales):
    """The 8 six-bit (scale, min) pairs of each Q4_K super-block, from its 12
    packed bytes [n, 12] (llama.cpp's get_scale_min_k4): pairs 0-3 are the
    low 6 bits of bytes 0-3 / 4-7; pairs 4-7 take their low 4 bits from
    bytes 8-11 and their top 2 bits from the spare bits of bytes 0-7."""
    s = scales.reshape(-1, 3, 4)
    lo, hi, mix = s[:, 0], s[:, 1], s[:, 2]
    sc = np.concatenate([lo & 0x3F, (mix & 0x0F) | ((lo >> 6) << 4)], axis=-1)
    mn = np.concatenate([hi & 0x3F, (mix >> 4) | ((hi >> 6) << 4)], axis=-1)
    return sc.astype(np.float32), mn.astype(np.float32)


def q4k_blocks(data, rows):
    """Q4_K super-blocks (256 values in 144 bytes: d, dmin, packed scales,
    128 bytes of nibbles) as blocks of 32: value = d*sc*q - dmin*m, so
    scale = d*sc and offset = 8*scale - dmin*m (the value at q = 8) give
    every weight as llama.cpp computes it (to float32 rounding)."""
    b = data.reshape(rows, -1, 144)
    n = b.shape[1]
    d = b[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    dmin = b[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    sc, mn = q4k_scale_min(b[:, :, 4:16].reshape(-1, 12))
    sc, mn = sc.reshape(rows, n, 8), mn.reshape(rows, n, 8)
    # Each 32 bytes hold two sub-blocks: low nibbles the first, high the next.
    qs = b[:, :, 16:144].reshape(rows, n, 4, 1, 32)
    q = (qs >> np.array([0, 4], np.uint8).reshape(1, 1, 1, 2, 1)) & 0x0F
    q = q.reshape(rows, n * 8, 32)
    scale = (d[..., None] * sc).reshape(rows, n * 8)
    offset = 8.0 * scale - (dmin[..., None] * mn).reshape(rows, n * 8)
    return BlockQuantized(bits=4, q=q, scale=scale, offset=offset)


def blocks_of(t):
    """GGUF Q4_1 / Q4_K / Q5_0 / Q8_0 data as BlockQuantized (rows = output
    channels), or None for other types."""
    if t.tensor_type not in (GGMLQuantizationType.Q4_1, GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q8_0,
                             GGMLQuantizationType.Q5_0):
        return None
    rows = int(t.shape[1]) if len(t.shape) > 1 else 1
    data = np.asarray(t.data, dtype=np.uint8).reshape(rows, -1)
    if t.tensor_type == GGMLQuantizationType.Q4_K:
        return q4k_blocks(data, rows)
    if t.tensor_type == GGMLQuantizationType.Q4_1:
        b = data.reshape(rows, -1, 20)
        d = b[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        m = b[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
        qs = b[:, :, 4:20]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # element j, then j + 16
        return BlockQuantized(bits=4, q=q, scale=d, offset=m + 8.0 * d)
    if t.tensor_type == GGMLQuantizationType.Q5_0:
        # 32 values d * (q - 16), q 5-bit: the low 4 bits in 16 bytes (element
        # j, then j + 16), the fifth in a 32-bit mask. As 8-bit blocks with
        # the same scale and q + 112 around 128 they are exact.
        b = data.reshape(rows, -1, 22)
        d = b[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        high = b[:, :, 2:6].copy().view(np.uint32)[..., 0]
        qs = b[:, :, 6:22]
        low = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)
        bits = ((high[..., None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)
        return BlockQuantized(bits=8, q=(low | (bits << 4)) + 112, scale=d)
    if t.tensor_type == GGMLQuantizationType.Q8_0:
        b = data.reshape(rows, -1, 34)
        d = b[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        q = (b[:, :, 2:34].view(np.int8).astype(np.int16) + 128).astype(np.uint8)
        return BlockQuantized(bits=8, q=q, scale=d)
    return None


def unpermute_blocks(w: BlockQuantized, heads) -> BlockQuantized:
    return BlockQuantized(w.bits, unpermute(w.q, heads), unpermute(w.scale, heads),
                          None if w.offset is None else unpermute(w.offset, heads))


def read_weights(reader, hp: Hparams, keep_quantized=False, requantize8=False) -> dict:
    tensors = {t.name: t for t in reader.tensors}
    permuted = ARCHITECTURES[field(reader, "general.architecture")]["permuted_qk"]

    def get(name):
        t = tensors[name]
        return dequantize(t.data, t.tensor_type).astype(np.float32).reshape(*reversed([int(d) for d in t.shape]))

    names = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output",
             "gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down"}
    weights = {"norm": get("output_norm.weight")}
    head_name = "output.weight" if "output.weight" in tensors else "token_embd.weight"
    # --weights q4 keeps a 4-bit embedding table as it is (gathered row by
    # row); anything else is dequantized.
    table = blocks_of(tensors["token_embd.weight"]) if keep_quantized else None
    if table is not None and table.bits != 4:
        table = None
    weights["embed"] = table if table is not None else get("token_embd.weight")

    def blocks(name):
        """--weights q4: the GGUF's own 4-bit (or Q8_0) blocks where they map
        onto MatMulNBits exactly, 8-bit blocks of 32 for the other types
        (Q6_K, Q5_0, ...): a Q4_K_M file keeps its mix of precisions."""
        return blocks_of(tensors[name]) or q8_blocks(get(name))

    if requantize8:
        weights["lm_head"] = q8_blocks(get(head_name))
    elif keep_quantized:
        tied_table = table is not None and head_name == "token_embd.weight"
        weights["lm_head"] = table if tied_table else blocks(head_name)
    elif head_name == "output.weight":
        sys.exit("gguf_to_onnx: untied output embeddings need --weights q4 or q8")
    for i in range(hp.layers):
        for key, gguf_name in names.items():
            name = f"blk.{i}.{gguf_name}.weight"
            heads = hp.heads if key == "q" else hp.kv_heads
            if keep_quantized:
                w = blocks(name)
                if key in ("q", "k") and permuted:
                    w = unpermute_blocks(w, heads)
            else:
                w = get(name)  # [out, in]
                if key in ("q", "k") and permuted:
                    w = unpermute(w, heads)
                # The graph multiplies x @ W with W [in, out]; blocks stay [out, in].
                w = q8_blocks(w) if requantize8 else w.T
            weights[f"{i}.{key}"] = w
            if key in ("q", "k", "v") and hp.qkv_bias:
                weights[f"{i}.{key}_bias"] = get(f"blk.{i}.{gguf_name}.bias")
        weights[f"{i}.attn_norm"] = get(f"blk.{i}.attn_norm.weight")
        weights[f"{i}.ffn_norm"] = get(f"blk.{i}.ffn_norm.weight")
        if hp.gemma3:
            # llama.cpp's converter has already added Gemma's 1 to these weights.
            for key, gguf_name in (("q_norm", "attn_q_norm"), ("k_norm", "attn_k_norm"),
                                   ("post_attn_norm", "post_attention_norm"), ("post_ffn_norm", "post_ffw_norm")):
                weights[f"{i}.{key}"] = get(f"blk.{i}.{gguf_name}.weight")
    return weights


def lm_config(reader, hp: Hparams, source_name, source_sha) -> dict:
    tokens = field(reader, "tokenizer.ggml.tokens")
    eos = field(reader, "tokenizer.ggml.eos_token_id")
    # End-of-turn and end-of-text tokens both end an answer (Qwen's
    # <|im_end|> is its eos; <|endoftext|> sits far into its vocabulary).
    ends = {"<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>"}
    stops = [eos] + [i for i, t in enumerate(tokens) if t in ends and i != eos]
    return {
        "format": "refinery.lm/1",
        "name": field(reader, "general.name", source_name),
        "architecture": field(reader, "general.architecture"),
        "context_length": hp.context_length,
        "vocab_size": hp.vocab,
        "layers": hp.layers,
        "kv_heads": hp.kv_heads,
        "head_dim": hp.head_dim,
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token", False)),
        "bos_token_id": field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_ids": stops,
        "pad_token_id": field(reader, "tokenizer.ggml.padding_token_id", eos),
        # The graph's attention (GroupQueryAttention) reads rows packed to the left.
        "padding_side": "right",
        "chat_template": field(reader, "tokenizer.chat_template"),
        "source": {"file": source_name, "sha256": source_sha},
    }


# The weights go to model.onnx.data beside the graph (ONNX's external data,
# which ONNX Runtime reads from the model's directory): a protobuf message
# cannot pass 2 GB, and ONNX Runtime maps the data file instead of holding
# the weights twice while it loads (Gemma 3 270M's peak: 1.5 GB embedded,
# 1.1 GB external).
def save_model(model, out_dir):
    """model.onnx and model.onnx.data, written under temporary names and
    renamed, so an interrupted conversion leaves no half model."""
    final = os.path.join(out_dir, "model.onnx")
    tmp_dir = os.path.join(out_dir, ".partial")
    os.makedirs(tmp_dir, exist_ok=True)
    onnx.save(model, os.path.join(tmp_dir, "model.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=1024)
    # onnx writes the data file readable by its owner only; a shared cache
    # needs it as readable as model.onnx.
    os.chmod(os.path.join(tmp_dir, "model.onnx.data"), 0o644)
    os.replace(os.path.join(tmp_dir, "model.onnx.data"), final + ".data")
    os.replace(os.path.join(tmp_dir, "model.onnx"), final)
    os.rmdir(tmp_dir)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf")
    ap.add_argument("out_dir")
    ap.add_argument("--weights", choices=["q4", "q8", "f16", "f32"], default="q4",
                    help="keep GGUF blocks quantized (q4), requantize to 8-bit blocks (q8), "
                         "or store float16 / float32 weights")
    args = ap.parse_args()

    reader = GGUFReader(args.gguf)
    hp = read_hparams(reader)
    print(f"gguf_to_onnx: {hp.layers} layers, hidden {hp.hidden}, {hp.heads} heads / {hp.kv_heads} kv, "
          f"vocab {hp.vocab}", file=sys.stderr)
    weights = read_weights(reader, hp, keep_quantized=args.weights == "q4", requantize8=args.weights == "q8")
    dtype = np.float32 if args.weights == "f32" else np.float16
    model = build_decoder(hp, weights, dtype, producer="refinery gguf_to_onnx")
    del weights

    os.makedirs(args.out_dir, exist_ok=True)
    save_model(model, args.out_dir)
    if field(reader, "tokenizer.ggml.model") == "llama":  # SentencePiece (Gemma)
        tokenizer = build_spm_tokenizer(
            field(reader, "tokenizer.ggml.tokens"),
            field(reader, "tokenizer.ggml.scores"),
            field(reader, "tokenizer.ggml.token_type"),
            field(reader, "tokenizer.ggml.unknown_token_id"),
        )
    else:
        tokenizer = build_bpe_tokenizer(
            field(reader, "tokenizer.ggml.tokens"),
            field(reader, "tokenizer.ggml.merges"),
            field(reader, "tokenizer.ggml.token_type"),
            field(reader, "tokenizer.ggml.pre", "default"),
        )
    tokenizer.save(os.path.join(args.out_dir, "tokenizer.json"))
    config = lm_config(reader, hp, os.path.basename(args.gguf), sha256(args.gguf))
    with open(os.path.join(args.out_dir, "lm.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"gguf_to_onnx: wrote {args.out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
