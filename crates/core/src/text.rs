//! Text normalisation for duplicate detection, shared by `validate`,
//! `extract-candidates` and `stratify-split` so they agree on what a
//! duplicate is.

/// The normal form used to find duplicate texts: Unicode's canonical
/// caseless form (full case folding of the canonical decomposition,
/// recomposed: NFC(casefold(NFD(text))), Unicode §3.13 D145), so "é" as one
/// code point and "e" + U+0301 are the same text, and so are "ΟΔΟΣ" and
/// "οδος" or "STRASSE" and "straße"; then every run of white space (Unicode
/// `White_Space`) replaced by one ASCII space and both ends trimmed.
/// Punctuation, accents and compatibility variants (fullwidth letters) are
/// kept as they are. Case folding and normalisation come from the
/// unicode-rs crates `caseless` and `unicode-normalization`.
pub fn normalize_text(text: &str) -> String {
    use caseless::Caseless;
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars().nfd().default_case_fold().nfc() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// A 128-bit key for a text's normal form (XXH3-128 of [`normalize_text`]),
/// so duplicate detection holds 16 bytes a row, not the text. Two different
/// normal forms share a key with probability about 2^-128 per pair.
pub fn text_key(text: &str) -> u128 {
    key_and_ascii(text).0
}

/// [`text_key`] and the text's length in characters; for the usual short
/// ASCII text the length is the byte count, so nothing is counted.
pub fn key_and_chars(text: &str) -> (u128, usize) {
    match key_and_ascii(text) {
        (key, true) => (key, text.len()),
        (key, false) => (key, text.chars().count()),
    }
}

/// The key, and whether the text took the ASCII fast path.
fn key_and_ascii(text: &str) -> (u128, bool) {
    const SHORT: usize = 512;
    let bytes = text.as_bytes();
    // Most texts are short ASCII with single spaces between words and none
    // at the ends: then the normal form is just the lowercased bytes, made
    // in a stack buffer. Anything else takes the general path.
    // Folds rather than `all`/`find`: no early exit, so each check compiles
    // to vector instructions over the whole (short) text.
    let plain = bytes.len() <= SHORT
        && bytes.first().is_none_or(|&b| b != b' ')
        && bytes.last().is_none_or(|&b| b != b' ')
        && !bytes
            .iter()
            .fold(false, |bad, &b| bad | !(0x20..0x80).contains(&b))
        && !bytes
            .iter()
            .zip(bytes.iter().skip(1))
            .fold(false, |bad, (&a, &b)| bad | (a == b' ' && b == b' '));
    if !plain {
        let key = xxhash_rust::xxh3::xxh3_128(normalize_text(text).as_bytes());
        return (key, false);
    }
    let mut buf = [0u8; SHORT];
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[..bytes.len()].make_ascii_lowercase();
    (xxhash_rust::xxh3::xxh3_128(&buf[..bytes.len()]), true)
}

/// The help text that says what [`normalize_text`] does, for `--help`.
pub const NORMALIZATION_HELP: &str =
    "Two texts are duplicates when they are equal after Unicode case folding and \
canonical normalisation (NFC: an accent typed as one character or as two is the \
same), replacing every run of white space with one space, and trimming both ends; \
punctuation and accents count.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_white_space_only() {
        assert_eq!(normalize_text("  Hello\t\nWORLD  "), "hello world");
        assert_eq!(normalize_text("Ünïcode\u{00A0}Straße"), "ünïcode strasse");
        assert_eq!(normalize_text("Hi!"), "hi!");
        assert_ne!(normalize_text("Hi!"), normalize_text("Hi"));
        assert_eq!(normalize_text(" \t "), "");
    }

    #[test]
    fn the_ascii_fast_path_agrees_with_the_normal_form() {
        let long = "Word  ".repeat(200);
        for s in [
            "",
            " ",
            "a",
            " Hello\t\n World \x0b x\x0c",
            "ABC def",
            long.as_str(),
            "\x1f\x1c mixed",
            "Ünïcode  Straße",
        ] {
            let expected = xxhash_rust::xxh3::xxh3_128(normalize_text(s).as_bytes());
            assert_eq!(text_key(s), expected, "{s:?}");
            assert_eq!(key_and_chars(s).1, s.chars().count(), "{s:?}");
        }
    }

    #[test]
    fn canonical_equivalents_and_case_variants_are_the_same_text() {
        // Field case 09: NFC "é" against NFD "e" + combining acute.
        assert_eq!(
            text_key("caf\u{e9} au lait"),
            text_key("cafe\u{301} au lait")
        );
        // Full case folding, final sigma included.
        assert_eq!(text_key("ΟΔΟΣ"), text_key("οδος"));
        assert_eq!(text_key("STRASSE"), text_key("straße"));
        // Accents still count; compatibility variants are not folded.
        assert_ne!(text_key("cafe"), text_key("café"));
        assert_ne!(text_key("ＡＢＣ"), text_key("abc"));
    }

    #[test]
    fn keys_agree_with_normal_forms() {
        assert_eq!(text_key("Hello  World"), text_key(" hello world "));
        assert_ne!(text_key("hello world"), text_key("hello, world"));
    }

    #[test]
    fn is_idempotent() {
        for s in ["A  b", "ÀÉ x\u{2003}y", "", "ǅ"] {
            let once = normalize_text(s);
            assert_eq!(normalize_text(&once), once);
        }
    }
}
