"""Byte-level BPE tokenizers in the Hugging Face tokenizer.json format,
rebuilt from a GGUF vocabulary (the converter) or trained on a small text
(the tiny test model)."""

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

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
