"""Tiny random-weight GGUFs of model families no small real GGUF on the
package registries covers, each with a numpy reference written from the
Hugging Face modeling code (not from the converter), for the parity tests.
Both use the tiny test tokenizer's vocabulary with Llama 3's pre-tokenizer
(llama-bpe) and float32 weights.

  llama3  Llama 3.1: 2 layers of width 64, grouped-query attention, rope base
          500000 and the "llama3" rope scaling (factor 8, low/high frequency
          factors 1 and 4, an original context of 16 tokens, so the scaling
          changes most frequencies within the 64-token context), stored as
          llama.cpp's converter stores it: a rope_freqs tensor, Q/K rows
          permuted for its rotary.
  gemma3  Gemma 3: 4 layers of width 64, heads 32 wide (not width / heads),
          embeddings scaled by sqrt(width), RMSNorm of each Q and K head,
          norms after attention and the MLP, GeLU (tanh) gating, layers 0 and
          2 attending to a sliding window of 8 tokens with rope base 10000,
          layers 1 and 3 to all with base 1000000; norm weights stored as
          1 + w, as llama.cpp's converter stores Gemma's.

usage: tiny_gguf.py FAMILY gguf OUT.gguf
       tiny_gguf.py FAMILY reference MODEL_DIR PROMPTS.jsonl [--max-new-tokens N] [--plain]
         greedy decoding in numpy, tokenizing with MODEL_DIR/tokenizer.json;
         one {"response_token_ids": [...]} per prompt. --plain drops what
         sets the family apart (llama3: the rope scaling; gemma3: the sliding
         window), the tests' negative control.
"""

import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from graph_builder import Hparams  # noqa: E402
from make_tiny_model import random_weights  # noqa: E402

TOKENIZER = os.path.join(HERE, "..", "..", "testdata", "models", "tiny", "tokenizer.json")
SEED = 20261201
LLAMA3_ROPE_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 16}
GEMMA3 = {"head_dim": 32, "sliding_window": 8, "global_every": 2, "rope_local_base": 10000.0}


def hparams(family, vocab):
    if family == "llama3":
        return Hparams(layers=2, hidden=64, ffn=128, heads=4, kv_heads=2, vocab=vocab, rope_base=500000.0,
                       rms_eps=1e-5, context_length=64)
    return Hparams(layers=4, hidden=64, ffn=128, heads=4, kv_heads=2, vocab=vocab, rope_base=1000000.0,
                   rms_eps=1e-6, context_length=64, key_length=GEMMA3["head_dim"])


def tokenizer_vocab():
    with open(TOKENIZER) as f:
        tok = json.load(f)
    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    specials = {t["id"] for t in tok["added_tokens"] if t["special"]}
    return tokens, merges, specials


def hf_weights(family, vocab):
    """The model in the Hugging Face layout: projections [out, in]; Gemma's
    norm weights as w (the model multiplies by 1 + w)."""
    hp = hparams(family, vocab)
    rng = np.random.default_rng(SEED)
    # random_weights makes [in, out] matrices for width hidden / heads heads;
    # Gemma's wider heads get their Q/K/V/O drawn here.
    w = random_weights(Hparams(**{**hp.__dict__, "key_length": 0}), rng)
    hf = {"embed": w["embed"], "norm": w["norm"]}
    for i in range(hp.layers):
        for k in ("q", "k", "v", "o", "gate", "up", "down"):
            hf[f"{i}.{k}"] = np.ascontiguousarray(w[f"{i}.{k}"].T)
        hf[f"{i}.attn_norm"], hf[f"{i}.ffn_norm"] = w[f"{i}.attn_norm"], w[f"{i}.ffn_norm"]
    if family == "gemma3":
        d, q, kv = hp.head_dim, hp.heads * hp.head_dim, hp.kv_heads * hp.head_dim

        def mat(n_out, n_in, scale):
            return rng.normal(0.0, scale / np.sqrt(n_in), size=(n_out, n_in)).astype(np.float32)

        def gamma(n):  # HF Gemma norm weights sit around 0: the model uses 1 + w
            return rng.uniform(-0.2, 0.2, n).astype(np.float32)

        hf["embed"] = hf["embed"] / np.float32(np.sqrt(hp.hidden))  # the model scales them back up
        hf["norm"] = gamma(hp.hidden)
        for i in range(hp.layers):
            hf[f"{i}.q"], hf[f"{i}.k"] = mat(q, hp.hidden, 2.0), mat(kv, hp.hidden, 2.0)
            hf[f"{i}.v"], hf[f"{i}.o"] = mat(kv, hp.hidden, 1.0), mat(hp.hidden, q, 4.0)
            for name, n in (("attn_norm", hp.hidden), ("ffn_norm", hp.hidden), ("post_attn_norm", hp.hidden),
                            ("post_ffn_norm", hp.hidden), ("q_norm", d), ("k_norm", d)):
                hf[f"{i}.{name}"] = gamma(n)
    return hf


def write_gguf(family, path):
    from gguf import GGUFWriter

    tokens, merges, specials = tokenizer_vocab()
    hp, hf = hparams(family, len(tokens)), hf_weights(family, len(tokens))
    arch = "llama" if family == "llama3" else "gemma3"
    w = GGUFWriter(path, arch)
    w.add_name(f"tiny-random-{family}")
    w.add_context_length(hp.context_length)
    w.add_embedding_length(hp.hidden)
    w.add_block_count(hp.layers)
    w.add_feed_forward_length(hp.ffn)
    w.add_head_count(hp.heads)
    w.add_head_count_kv(hp.kv_heads)
    w.add_rope_freq_base(hp.rope_base)
    w.add_layer_norm_rms_eps(hp.rms_eps)
    if family == "gemma3":
        w.add_key_length(hp.head_dim)
        w.add_value_length(hp.head_dim)
        w.add_sliding_window(GEMMA3["sliding_window"])
        w.add_uint32("gemma3.attention.sliding_window_pattern", GEMMA3["global_every"])
    else:
        w.add_rope_dimension_count(hp.head_dim)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types([3 if i in specials else 1 for i in range(len(tokens))])
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)

    def permute(m, heads):  # llama.cpp's converter: rows in its interleaved rotary order
        return m.reshape(heads, 2, m.shape[0] // heads // 2, *m.shape[1:]).swapaxes(1, 2).reshape(m.shape)

    def norm(name):  # llama.cpp's converter adds Gemma's 1 to every norm weight
        return hf[name] + np.float32(1.0) if family == "gemma3" else hf[name]

    w.add_tensor("token_embd.weight", hf["embed"])
    w.add_tensor("output_norm.weight", norm("norm"))
    if family == "llama3":
        w.add_tensor("rope_freqs.weight", llama_cpp_rope_factors(hp).astype(np.float32))
    names = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate", "up": "ffn_up",
             "down": "ffn_down"}
    norms = {"attn_norm": "attn_norm", "ffn_norm": "ffn_norm"}
    if family == "gemma3":
        norms.update(post_attn_norm="post_attention_norm", post_ffn_norm="post_ffw_norm", q_norm="attn_q_norm",
                     k_norm="attn_k_norm")
    for i in range(hp.layers):
        for k, name in names.items():
            m = hf[f"{i}.{k}"]
            if k in ("q", "k") and family == "llama3":
                m = permute(m, hp.heads if k == "q" else hp.kv_heads)
            w.add_tensor(f"blk.{i}.{name}.weight", np.ascontiguousarray(m))
        for k, name in norms.items():
            w.add_tensor(f"blk.{i}.{name}.weight", norm(f"{i}.{k}"))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama_cpp_rope_factors(hp):
    """rope_freqs as llama.cpp's converter writes it for rope_type llama3:
    one divisor per frequency."""
    s = LLAMA3_ROPE_SCALING
    low_wavelen = s["original_max_position_embeddings"] / s["low_freq_factor"]
    high_wavelen = s["original_max_position_embeddings"] / s["high_freq_factor"]
    factors = []
    for freq in 1.0 / hp.rope_base ** (np.arange(0, hp.head_dim, 2) / hp.head_dim):
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(s["factor"])
        else:
            smooth = (s["original_max_position_embeddings"] / wavelen - s["low_freq_factor"]) / (
                s["high_freq_factor"] - s["low_freq_factor"])
            factors.append(1.0 / ((1 - smooth) / s["factor"] + smooth))
    return np.array(factors)


def hf_inv_freq(head_dim, base, scaling=None):
    """transformers' rope init: default, or rope_type "llama3"
    (_compute_llama3_parameters)."""
    inv = 1.0 / base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if scaling is None:
        return inv
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    scaled = np.where(wavelen > old / low, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) & ~(wavelen > old / low)
    return np.where(medium, smoothed, scaled)


def rms(x, w, eps, gemma):
    y = x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
    return y * (1.0 + w) if gemma else y * w


def rope(t, inv):
    """t [heads, n, d] rotated by position (rotate-half layout)."""
    n = t.shape[1]
    freqs = np.arange(n, dtype=np.float64)[:, None] * inv[None, :]
    emb = np.concatenate([freqs, freqs], -1)
    cos, sin = np.cos(emb).astype(np.float32)[None], np.sin(emb).astype(np.float32)[None]
    half = t.shape[-1] // 2
    return t * cos + np.concatenate([-t[..., half:], t[..., :half]], axis=-1) * sin


def forward(family, hf, hp, ids, plain):
    """Logits of the last position: transformers' LlamaForCausalLM /
    Gemma3ForCausalLM forward pass (eager attention, float32)."""
    gemma = family == "gemma3"
    n, d = len(ids), hp.head_dim
    x = hf["embed"][ids] * (np.float32(np.sqrt(hp.hidden)) if gemma else np.float32(1.0))
    pos = np.arange(n)
    causal = pos[None, :] <= pos[:, None]
    for i in range(hp.layers):
        local = gemma and (i + 1) % GEMMA3["global_every"] != 0
        h = rms(x, hf[f"{i}.attn_norm"], hp.rms_eps, gemma)
        q = (h @ hf[f"{i}.q"].T).reshape(n, hp.heads, d).transpose(1, 0, 2)
        k = (h @ hf[f"{i}.k"].T).reshape(n, hp.kv_heads, d).transpose(1, 0, 2)
        v = (h @ hf[f"{i}.v"].T).reshape(n, hp.kv_heads, d).transpose(1, 0, 2)
        if gemma:
            q, k = rms(q, hf[f"{i}.q_norm"], hp.rms_eps, True), rms(k, hf[f"{i}.k_norm"], hp.rms_eps, True)
            inv = hf_inv_freq(d, GEMMA3["rope_local_base"] if local else hp.rope_base)
        else:
            inv = hf_inv_freq(d, hp.rope_base, None if plain else LLAMA3_ROPE_SCALING)
        q, k = rope(q, inv), rope(k, inv)
        rep = hp.heads // hp.kv_heads
        k, v = np.repeat(k, rep, axis=0), np.repeat(v, rep, axis=0)
        allowed = causal
        if local and not plain:  # a query sees the last sliding_window tokens, itself included
            allowed = causal & (pos[:, None] - pos[None, :] < GEMMA3["sliding_window"])
        scores = np.where(allowed, q @ k.transpose(0, 2, 1) / math.sqrt(d), -np.inf)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        attn = (probs @ v).transpose(1, 0, 2).reshape(n, hp.heads * d) @ hf[f"{i}.o"].T
        if gemma:
            attn = rms(attn, hf[f"{i}.post_attn_norm"], hp.rms_eps, True)
        x = x + attn
        h = rms(x, hf[f"{i}.ffn_norm"], hp.rms_eps, gemma)
        gate = h @ hf[f"{i}.gate"].T
        if gemma:  # gelu_pytorch_tanh
            act = 0.5 * gate * (1 + np.tanh(math.sqrt(2 / math.pi) * (gate + 0.044715 * gate ** 3)))
        else:
            act = gate / (1 + np.exp(-gate))
        mlp = (act * (h @ hf[f"{i}.up"].T)) @ hf[f"{i}.down"].T
        if gemma:
            mlp = rms(mlp, hf[f"{i}.post_ffn_norm"], hp.rms_eps, True)
        x = x + mlp
    return rms(x[-1], hf["norm"], hp.rms_eps, gemma) @ hf["embed"].T


def reference(family, model_dir, prompts, max_new_tokens, plain):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    with open(os.path.join(model_dir, "lm.json")) as f:
        stops = set(json.load(f)["eos_token_ids"])
    hp = hparams(family, tok.get_vocab_size())
    hf = hf_weights(family, hp.vocab)
    with open(prompts) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
        ids = tok.encode(row["prompt"], add_special_tokens=False).ids
        out = []
        while len(out) < max_new_tokens:
            token = int(np.argmax(forward(family, hf, hp, ids + out, plain)))
            if token in stops:
                break
            out.append(token)
        print(json.dumps({"response_token_ids": out}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("family", choices=["llama3", "gemma3"])
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gguf")
    g.add_argument("out")
    r = sub.add_parser("reference")
    r.add_argument("model_dir")
    r.add_argument("prompts")
    r.add_argument("--max-new-tokens", type=int, default=16)
    r.add_argument("--plain", action="store_true")
    args = ap.parse_args()
    if args.command == "gguf":
        write_gguf(args.family, args.out)
    else:
        reference(args.family, args.model_dir, args.prompts, args.max_new_tokens, args.plain)


if __name__ == "__main__":
    main()
