"""Byte-level BPE tokenizers in the Hugging Face tokenizer.json format,
rebuilt from a GGUF vocabulary (the converter) or trained on a small text
(the tiny test model)."""

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

CONTROL = 3  # GGUF token type of special tokens

# llama.cpp's pre-tokenizer names for byte-level BPE vocabularies, and the
# Hugging Face pre-tokenizer that splits text the same way.
PRE_TOKENIZERS = {
    "smollm": lambda: pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    ),
    "gpt2": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    # Qwen2's split: GPT-4-like, but every digit on its own.
    "qwen2": lambda: pre_tokenizers.Sequence([
        pre_tokenizers.Split(
            Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
            behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ]),
    # Llama 3's split: as Qwen2's, but numbers in groups of up to 3 digits.
    "llama-bpe": lambda: pre_tokenizers.Sequence([
        pre_tokenizers.Split(
            Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
            behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ]),
    "default": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
}


def _pre_tokenizer(pre):
    if pre not in PRE_TOKENIZERS:
        raise SystemExit(f"tokenizer: pre-tokenizer {pre!r} is not supported (known: {', '.join(PRE_TOKENIZERS)})")
    return PRE_TOKENIZERS[pre]()


def build_bpe_tokenizer(tokens, merges, token_types, pre) -> Tokenizer:
    vocab = {tok: i for i, tok in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = _pre_tokenizer(pre)
    tok.decoder = decoders.ByteLevel()
    specials = [AddedToken(t, special=True, normalized=False) for t, kind in zip(tokens, token_types) if kind == CONTROL]
    tok.add_special_tokens(specials)
    return tok


def train_tiny_tokenizer(texts, vocab_size, specials) -> Tokenizer:
    """A small byte-level BPE with the same pre-tokenizer as SmolLM2."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = _pre_tokenizer("smollm")
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


NORMAL, USER_DEFINED, BYTE = 1, 4, 6  # GGUF token types besides CONTROL


def spm_merges(tokens, scores, token_types):
    """Merges for a SentencePiece BPE vocabulary, which a GGUF stores as
    pieces and scores only: every split of a normal piece into two pieces of
    the vocabulary, ranked by the merged piece's score (highest first), the
    way llama.cpp's SPM tokenizer picks which pair to merge next."""
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = []
    for i, piece in enumerate(tokens):
        if token_types[i] != NORMAL or len(piece) < 2:
            continue
        splits = [(piece[:j], piece[j:]) for j in range(1, len(piece)) if piece[:j] in vocab and piece[j:] in vocab]
        splits.sort(key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))
        merges.extend((-scores[i], i, lr) for lr in splits)
    merges.sort(key=lambda m: (m[0], m[1]))
    return [lr for _, _, lr in merges]


def build_spm_tokenizer(tokens, scores, token_types, unk_id) -> Tokenizer:
    """A SentencePiece BPE vocabulary (GGUF tokenizer model `llama`: Gemma,
    Llama 2) as a Hugging Face BPE: spaces become "▁", pieces merge by score,
    characters outside the vocabulary fall back to <0xNN> byte tokens; no
    space is added in front (Gemma 3's add_space_prefix is false)."""
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=spm_merges(tokens, scores, token_types), byte_fallback=True,
                               fuse_unk=True, unk_token=tokens[unk_id]))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, kind in zip(tokens, token_types) if kind == CONTROL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False)
                    for t, kind in zip(tokens, token_types) if kind == USER_DEFINED])
    return tok
