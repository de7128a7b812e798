//! A validating scanner for the usual record line, the fast path of
//! [`crate::record::raw_object`]: one pass over the bytes finds each field's
//! name and the exact text of its value, checking the JSON grammar on the
//! way, without building anything.
//!
//! It answers only when it is sure: a name with an escape, a `\u` escape in
//! any string, nesting deeper than [`MAX_DEPTH`] or anything that is not
//! valid JSON gives `None`, and serde_json reads the line instead (and words
//! the error). So the scanner never accepts a line serde_json would refuse,
//! and gives the same fields for every line it accepts (property-tested).

use std::borrow::Cow;

/// Field names and the JSON text of their values, in order.
pub type Fields<'a> = Vec<(Cow<'a, str>, &'a str)>;

/// Nesting the scanner follows; deeper values go to serde_json.
pub const MAX_DEPTH: usize = 32;

/// The fields of the object `text` holds, or `None` (see the module).
pub fn scan_object(text: &str) -> Option<Fields<'_>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut fields = Vec::with_capacity(8);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            let name_start = i + 1;
            i = skip_plain_string(b, i)?;
            let name = &text[name_start..i - 1];
            i = skip_ws(b, i);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            let value_start = i;
            i = skip_value(b, i, 0)?;
            fields.push((Cow::Borrowed(name), &text[value_start..i]));
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(fields)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// A string with no escape at all (field names); the index after it.
fn skip_plain_string(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let end = find_special(b, i + 1)?;
    (b[end] == b'"').then_some(end + 1)
}

/// A string value: escapes other than `\u` allowed.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        j = find_special(b, j)?;
        match b[j] {
            b'"' => return Some(j + 1),
            b'\\' => match b.get(j + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                _ => return None,
            },
            _ => return None, // a raw control character
        }
    }
}

/// Whether a string, written as JSON, needs an escape: it holds a quote, a
/// backslash or a control character (the only bytes serde_json escapes), so
/// a writer can copy the others between quotes as they are.
pub fn needs_escape(text: &str) -> bool {
    find_special(text.as_bytes(), 0).is_some()
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The first byte from `j` on that ends a string's plain run: `"`, `\` or
/// a control character. Eight bytes at a time: each test below flags the
/// bytes it matches in their high bit, and the lowest flag is always a true
/// match (a borrow only reaches bytes above one), so no call, no set-up,
/// for the short strings records are made of.
fn find_special(b: &[u8], mut j: usize) -> Option<usize> {
    while let Some(chunk) = b.get(j..j + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let flags = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w);
        let flags = flags & HIGHS;
        if flags != 0 {
            return Some(j + (flags.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    b[j.min(b.len())..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|at| j + at)
}

fn skip_value(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'-' | b'0'..=b'9' => skip_number(b, i),
        b't' => literal(b, i, b"true"),
        b'f' => literal(b, i, b"false"),
        b'n' => literal(b, i, b"null"),
        b'[' if depth < MAX_DEPTH => skip_array(b, i, depth + 1),
        b'{' if depth < MAX_DEPTH => skip_nested_object(b, i, depth + 1),
        _ => None,
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b.get(i..i + word.len())
        .filter(|w| *w == word)
        .map(|_| i + word.len())
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
fn skip_number(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |b: &[u8], mut i: usize| {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(b, i)?,
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    Some(i)
}

fn skip_array(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    let mut i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Some(i + 1);
    }
    loop {
        i = skip_ws(b, skip_value(b, i, depth)?);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b']' => return Some(i + 1),
            _ => return None,
        }
    }
}

fn skip_nested_object(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    let mut i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        i = skip_ws(b, skip_string(b, i)?);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, skip_value(b, skip_ws(b, i + 1), depth)?);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return Some(i + 1),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Option<Vec<(String, String)>> {
        scan_object(text).map(|f| {
            f.into_iter()
                .map(|(k, v)| (k.into_owned(), v.to_string()))
                .collect()
        })
    }

    #[test]
    fn reads_the_usual_line() {
        let got = fields(
            r#" {"id":"m1", "n": -1.5e+3 ,"ok":true,"none":null,"tags":["a",{"b":[1,2]}],"t":"say \"hi\"\n"} "#,
        )
        .unwrap();
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["id", "n", "ok", "none", "tags", "t"]);
        assert_eq!(got[1].1, "-1.5e+3");
        assert_eq!(got[4].1, r#"["a",{"b":[1,2]}]"#);
        assert_eq!(got[5].1, r#""say \"hi\"\n""#);
        assert_eq!(fields("{}").unwrap(), []);
    }

    #[test]
    fn leaves_anything_unusual_or_invalid_to_serde() {
        for text in [
            r#"{"a\"b":1}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":-}"#,
            r#"{"a":1e}"#,
            r#"{"a":tru}"#,
            r#"{"a":"x\q"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":1,}"#,
            r#"{"a":1}x"#,
            r#"{"a":[1,]}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a" 1}"#,
            r#"["a"]"#,
            r#"{"a":"unterminated}"#,
            "",
        ] {
            assert!(scan_object(text).is_none(), "{text}");
        }
        // Every byte that ends a run, at every offset in and after a word.
        for special in [b'"', b'\\', 0x00, 0x1f] {
            for at in 0..20 {
                let mut bytes = vec![b'a'; 20];
                bytes[at] = special;
                assert_eq!(find_special(&bytes, 0), Some(at));
                bytes[at] = 0x20;
                assert_eq!(find_special(&bytes, 0), None);
            }
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(40), "]".repeat(40));
        assert!(scan_object(&deep).is_none());
    }
}

#[cfg(test)]
mod agreement {
    //! The scanner against serde_json: on every line it accepts, the same
    //! fields; it never accepts a line serde_json refuses.
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::scan_object;
    use crate::record::serde_raw_object;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            "[ -~\\n\\t\"\\\\é😀]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z_\"]{1,6}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn agree(text: &str) -> Result<(), TestCaseError> {
        if let Some(fast) = scan_object(text) {
            let slow = serde_raw_object(text);
            prop_assert!(slow.is_ok(), "accepted what serde refuses: {text:?}");
            prop_assert_eq!(fast, slow.unwrap());
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn same_fields_as_serde(
            fields in prop::collection::vec(("[a-z_]{1,8}", value()), 0..8),
            pretty in any::<bool>(),
        ) {
            let object = Value::Object(fields.into_iter().collect());
            let text = if pretty {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                serde_json::to_string(&object).unwrap()
            };
            agree(&text)?;
        }

        #[test]
        fn never_accepts_a_broken_line(
            fields in prop::collection::vec(("[a-z_]{1,8}", value()), 1..6),
            cut in any::<prop::sample::Index>(),
            byte in prop::sample::select(vec![b'"', b'\\', b',', b':', b'}', b']', b'0', b'-', b'.', b'e', b' ', b'x', 0x01]),
        ) {
            let text = serde_json::to_string(&Value::Object(fields.into_iter().collect())).unwrap();
            let mut bytes = text.into_bytes();
            let at = cut.index(bytes.len());
            bytes[at] = byte;
            if let Ok(text) = String::from_utf8(bytes) {
                agree(&text)?;
            }
        }
    }
}
