//! Records: one JSON object per line. Parsing a line either whole (keeping
//! every field in order, numbers exactly as written) or only the fields a
//! tool needs, and the dotted-path look-up the expression language uses.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A record: field order and number text are preserved (serde_json's
/// `preserve_order` and `arbitrary_precision`).
pub type Row = Map<String, Value>;

/// Why a line is not a record. The message is what the user sees after
/// `file:line: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError(pub String);

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks the parts every parse shares, UTF-8 and an object at the top,
/// and gives the line as text (for a tool with its own typed fast path).
pub fn check_object_text(bytes: &[u8]) -> Result<&str, LineError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        LineError(format!(
            "invalid UTF-8 at byte {} of the line",
            e.valid_up_to() + 1
        ))
    })?;
    let first = text.trim_start().chars().next();
    match first {
        Some('{') => Ok(text),
        // Say what the line is only when it is JSON at all: "nope" is not
        // JSON, not "null".
        Some(c) => match serde_json::from_str::<Value>(text) {
            Ok(_) => Err(LineError(format!(
                "expected a JSON object, found {}",
                describe_start(c)
            ))),
            Err(e) => Err(json_error(text, e)),
        },
        None => Err(LineError("empty line".into())),
    }
}

/// The error for a line a fast parse refused, or that holds an escape a
/// fast parse does not check (`\u`: a lone surrogate is not valid JSON
/// text): from the one full parse, so every tool refuses the same lines
/// with the same message and column.
fn full_parse_error(text: &str) -> Option<LineError> {
    parse_object_text(text).err()
}

/// [`parse_row`] on text already known to be UTF-8.
fn parse_object_text(text: &str) -> Result<Row, LineError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let row = RowSeed
        .deserialize(&mut de)
        .map_err(|e| json_error(text, e))?;
    de.end().map_err(|e| json_error(text, e))?;
    Ok(row)
}

/// Whether the text holds a `\uD800`-`\uDFFF` escape: a surrogate, which
/// only the full parse checks is paired (the fast parses skip values
/// without decoding them). Other escapes need no second look, so a line
/// written by Python's `json.dumps` (every non-ASCII character escaped)
/// pays for the full parse only where it has an emoji or a broken one.
pub fn has_surrogate_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memmem::find_iter(bytes, b"\\u").any(|at| {
        // An escape only if an even number of backslashes comes before it.
        let before = bytes[..at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        let hex = &bytes[at + 2..];
        before % 2 == 0
            && hex.len() >= 2
            && hex[0].eq_ignore_ascii_case(&b'd')
            && matches!(hex[1].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
    })
}

fn describe_start(c: char) -> &'static str {
    match c {
        '[' => "an array",
        '"' => "a string",
        '-' | '0'..='9' => "a number",
        't' | 'f' => "a boolean",
        'n' => "null",
        _ => "text that is not JSON",
    }
}

/// Marks the serde error a repeated key raises, so its message can be
/// given without "invalid JSON" in front (the line is JSON, just ambiguous).
const REPEATED_KEY: &str = "\u{1}repeated key:";

fn repeated_key<E: serde::de::Error>(name: &str) -> E {
    E::custom(format!("{REPEATED_KEY}{name}"))
}

/// The first top-level name that appears twice, if any.
fn first_repeated<'a>(names: impl Iterator<Item = &'a str> + Clone) -> Option<&'a str> {
    names
        .clone()
        .enumerate()
        .find(|(i, name)| names.clone().take(*i).any(|earlier| earlier == *name))
        .map(|(_, name)| name)
}

fn json_error(text: &str, e: serde_json::Error) -> LineError {
    let full = e.to_string();
    if let Some(rest) = full.strip_prefix(REPEATED_KEY) {
        let name = rest.rfind(" at line ").map_or(rest, |i| &rest[..i]);
        // Parsers disagree on which value wins; no tool may pick one.
        return LineError(format!(
            "key {name:?} appears twice (ambiguous: parsers disagree on which value counts)"
        ));
    }
    if let Some(word) = non_json_number_at(text, e.column()) {
        return LineError(format!(
            "invalid JSON at column {}: {word} is not a JSON number (Python's json.dumps writes it for a float {word}); write null or drop the row",
            e.column()
        ));
    }
    let message = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => &full,
    };
    LineError(format!("invalid JSON at column {}: {message}", e.column()))
}

/// `NaN`/`Infinity` where serde_json stopped: the usual way a Python
/// pipeline produces a line that is not JSON.
fn non_json_number_at(text: &str, column: usize) -> Option<&'static str> {
    let start = text.char_indices().nth(column.saturating_sub(1))?.0;
    let back = text[..start].rfind([':', '[', ','])? + 1;
    let word = text[back..].trim_start();
    ["NaN", "-Infinity", "Infinity"]
        .into_iter()
        .find(|w| word.starts_with(w))
}

/// Parses a whole line into a record. A top-level key that appears twice
/// is an error: which value counts would be a guess.
pub fn parse_row(bytes: &[u8]) -> Result<Row, LineError> {
    parse_object_text(check_object_text(bytes)?)
}

/// A whole record, refusing a repeated top-level key.
struct RowSeed;

impl<'de> DeserializeSeed<'de> for RowSeed {
    type Value = Row;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Row, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut row = Row::new();
        while let Some(key) = map.next_key::<String>()? {
            if row.contains_key(&key) {
                return Err(repeated_key(&key));
            }
            let value: Value = map.next_value()?;
            row.insert(key, value);
        }
        Ok(row)
    }
}

/// The top-level fields a tool needs from each row; the rest are checked for
/// well-formedness and skipped without being built.
#[derive(Clone, Debug, Default)]
pub struct FieldSet {
    names: BTreeSet<String>,
}

impl FieldSet {
    /// An empty set.
    pub fn new() -> Self {
        FieldSet::default()
    }

    /// Adds a field name.
    pub fn insert(&mut self, name: impl Into<String>) {
        self.names.insert(name.into());
    }

    /// Whether `name` is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// Parses a line, building only the fields in `fields`. The whole line must
/// still be valid JSON: skipped values are parsed, not trusted.
pub fn parse_fields(bytes: &[u8], fields: &FieldSet) -> Result<Row, LineError> {
    let text = check_object_text(bytes)?;
    if has_surrogate_escape(text) {
        if let Some(e) = full_parse_error(text) {
            return Err(e);
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let projected = ProjectSeed(fields)
        .deserialize(&mut de)
        .and_then(|row| de.end().map(|()| row));
    projected.map_err(|e| full_parse_error(text).unwrap_or_else(|| json_error(text, e)))
}

struct ProjectSeed<'f>(&'f FieldSet);

impl<'de> DeserializeSeed<'de> for ProjectSeed<'_> {
    type Value = Row;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Row, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProjectSeed<'_> {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut row = Row::new();
        let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if seen.contains(&key) {
                return Err(repeated_key(&key));
            }
            seen.push(key.clone());
            if self.0.contains(&key) {
                let value: Value = map.next_value()?;
                row.insert(key.into_owned(), value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(row)
    }
}

/// A record read without building its values: each field's name and the
/// exact JSON text of its value, in order. For tools that copy most values
/// through untouched and read only a few.
pub type RawFields<'a> = crate::scan::Fields<'a>;

/// Parses a line into [`RawFields`]; the whole line is still checked.
pub fn parse_raw_fields(bytes: &[u8]) -> Result<RawFields<'_>, LineError> {
    let text = check_object_text(bytes)?;
    if has_surrogate_escape(text) {
        if let Some(e) = full_parse_error(text) {
            return Err(e);
        }
    }
    raw_object(text).map_err(|e| full_parse_error(text).unwrap_or_else(|| json_error(text, e)))
}

/// Reads a JSON object's text into [`RawFields`]: the scanner's one pass for
/// the usual line, serde_json for the rest (and for every error message).
/// A repeated top-level key is an error here too.
pub fn raw_object(text: &str) -> Result<RawFields<'_>, serde_json::Error> {
    let fields = match crate::scan::scan_object(text) {
        Some(fields) => fields,
        None => serde_raw_object(text)?,
    };
    match first_repeated(fields.iter().map(|(name, _)| name.as_ref())) {
        Some(name) => Err(repeated_key(name)),
        None => Ok(fields),
    }
}

/// [`raw_object`] through serde_json alone.
pub fn serde_raw_object(text: &str) -> Result<RawFields<'_>, serde_json::Error> {
    struct RawVisitor;
    impl<'de> Visitor<'de> for RawVisitor {
        type Value = RawFields<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
            while let Some((name, value)) =
                map.next_entry::<std::borrow::Cow<'de, str>, &'de serde_json::value::RawValue>()?
            {
                out.push((name, value.get()));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = serde::Deserializer::deserialize_map(&mut de, RawVisitor)?;
    de.end()?;
    Ok(fields)
}

/// Looks up a dotted path (`vet.score`, `context.0`): object keys by name,
/// array elements by index.
pub fn lookup<'a>(row: &'a Row, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = row.get(first)?;
    for segment in rest {
        value = match value {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// A JSON value as a number, if it is one.
pub fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// The name of a JSON value's type, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The line with `fields` added at the end of the object. When none of them
/// is in the row already, the original bytes are kept exactly (numbers,
/// spacing, escapes) and the new fields spliced in before the closing brace;
/// otherwise the row is rewritten compactly with the fields replaced where
/// they stand, every other value copied as its original text (so `1E5`
/// stays `1E5`). `raw` must be the line `row` was parsed from.
pub fn with_fields(raw: &[u8], row: &Row, fields: &[(&str, Value)]) -> Vec<u8> {
    if !fields.iter().any(|(k, _)| row.contains_key(*k)) {
        return splice_fields(raw, fields);
    }
    let original = std::str::from_utf8(raw)
        .ok()
        .and_then(|text| raw_object(text.trim()).ok());
    let Some(original) = original else {
        // Not the line the row came from: rebuild from the row itself.
        let mut row = row.clone();
        for (k, v) in fields {
            row.insert((*k).to_string(), v.clone());
        }
        return to_line(&row).into_bytes();
    };
    let mut out = Vec::with_capacity(raw.len() + 32 * fields.len());
    out.push(b'{');
    let write = |out: &mut Vec<u8>, name: &str, value: &[u8]| {
        if out.len() > 1 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, name).expect("strings serialise");
        out.push(b':');
        out.extend_from_slice(value);
    };
    for (name, text) in &original {
        match fields.iter().find(|(k, _)| k == name) {
            Some((_, v)) => write(
                &mut out,
                name,
                &serde_json::to_vec(v).expect("values serialise"),
            ),
            None => write(&mut out, name, text.as_bytes()),
        }
    }
    for (k, v) in fields {
        if !original.iter().any(|(name, _)| name == k) {
            write(
                &mut out,
                k,
                &serde_json::to_vec(v).expect("values serialise"),
            );
        }
    }
    out.push(b'}');
    out
}

/// The line with `fields` appended before its closing brace, leaving every
/// original byte as it was. The caller knows none of the keys is in the
/// object already (see [`with_fields`]).
pub fn splice_fields(raw: &[u8], fields: &[(&str, Value)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 32 * fields.len());
    splice_fields_into(&mut out, raw, fields);
    out
}

/// [`splice_fields`], appending to `out` (a tool writing many rows reuses
/// one buffer).
pub fn splice_fields_into(out: &mut Vec<u8>, raw: &[u8], fields: &[(&str, Value)]) {
    let close = raw
        .iter()
        .rposition(|&b| b == b'}')
        .expect("a parsed object ends with `}`");
    let open = raw.iter().position(|&b| b == b'{').map_or(0, |i| i + 1);
    let empty = raw[open..close].iter().all(u8::is_ascii_whitespace);
    // `{ }`: drop the inner white space so the output reads `{"a":1}`.
    out.extend_from_slice(&raw[..if empty { open } else { close }]);
    let mut first = empty;
    for (k, v) in fields {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, k).expect("strings serialise");
        out.push(b':');
        serde_json::to_writer(&mut *out, v).expect("values serialise");
    }
    out.push(b'}');
}

/// Serialises a record as one line (without the newline).
pub fn to_line(row: &Row) -> String {
    serde_json::to_string(row).expect("a JSON map always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_surrogate_escapes_need_the_full_parse() {
        assert!(has_surrogate_escape(r#"{"a":"\ud83d\ude00"}"#));
        assert!(has_surrogate_escape(r#"{"a":"x \uDC02"}"#));
        assert!(!has_surrogate_escape(r#"{"a":"caf\u00e9 \u4e2d"}"#));
        assert!(
            !has_surrogate_escape(r#"{"a":"\\ud83d is text"}"#),
            "an escaped backslash"
        );
        assert!(
            has_surrogate_escape(r#"{"a":"\\\ud83d"}"#),
            "backslash, then an escape"
        );
        // The fast parses refuse a lone one in a field they skip.
        let mut fields = FieldSet::new();
        fields.insert("b");
        assert!(parse_fields(br#"{"a":"cut \ud83d","b":1}"#, &fields).is_err());
        assert!(parse_raw_fields(br#"{"a":"cut \ud83d","b":1}"#).is_err());
        assert!(parse_fields(br#"{"a":"caf\u00e9","b":1}"#, &fields).is_ok());
    }

    #[test]
    fn replacing_a_field_keeps_every_other_value_as_written() {
        let raw = br#"{"text":"a","n":1E5,"split":"old", "x" : [1.50, {"y":2E-1}]}"#;
        let row = parse_row(raw).unwrap();
        let out = with_fields(
            raw,
            &row,
            &[("split", Value::from("dev")), ("k", Value::from(1))],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"text":"a","n":1E5,"split":"dev","x":[1.50, {"y":2E-1}],"k":1}"#
        );
    }

    #[test]
    fn keeps_field_order_and_number_text() {
        let line = br#"{"z":1,"a":0.10,"m":-0.0,"big":123456789012345678901234567890}"#;
        let row = parse_row(line).unwrap();
        assert_eq!(to_line(&row).as_bytes(), line);
        // serde_json spells an exponent with its sign when it re-serialises;
        // tools that add fields splice them in (`with_fields`) to avoid that.
        let row = parse_row(br#"{"m":1e5}"#).unwrap();
        assert_eq!(to_line(&row), r#"{"m":1e+5}"#);
    }

    #[test]
    fn with_fields_keeps_the_original_bytes() {
        let line = br#"{"m":1e5, "t":"x"}  "#;
        let row = parse_row(line).unwrap();
        let out = with_fields(line, &row, &[("split", Value::from("dev"))]);
        assert_eq!(out, br#"{"m":1e5, "t":"x","split":"dev"}"#);
        let out = with_fields(b"{ }", &Row::new(), &[("a", Value::from(1))]);
        assert_eq!(out, br#"{"a":1}"#);
        // A field that is already there is replaced where it stands.
        let line = br#"{"split":"train","t":1}"#;
        let row = parse_row(line).unwrap();
        let out = with_fields(line, &row, &[("split", Value::from("test"))]);
        assert_eq!(out, br#"{"split":"test","t":1}"#);
    }

    #[test]
    fn reports_each_kind_of_bad_line() {
        assert_eq!(
            parse_row(b"[1,2]").unwrap_err().0,
            "expected a JSON object, found an array"
        );
        assert_eq!(
            parse_row(b"42").unwrap_err().0,
            "expected a JSON object, found a number"
        );
        assert_eq!(
            parse_row(b"\"s\"").unwrap_err().0,
            "expected a JSON object, found a string"
        );
        assert_eq!(
            parse_row(b"null").unwrap_err().0,
            "expected a JSON object, found null"
        );
        let e = parse_row(b"{\"a\": 1,}").unwrap_err().0;
        assert!(e.starts_with("invalid JSON at column 9: "), "{e}");
        let e = parse_row(b"{\"a\": \"\xff\"}").unwrap_err().0;
        assert_eq!(e, "invalid UTF-8 at byte 8 of the line");
        let e = parse_row(br#"{"valence": NaN}"#).unwrap_err().0;
        assert!(e.contains("NaN is not a JSON number"), "{e}");
        let e = parse_row(br#"{"v": [1, -Infinity]}"#).unwrap_err().0;
        assert!(e.contains("-Infinity is not a JSON number"), "{e}");
        let e = parse_row(b"{\"a\": 1} x").unwrap_err().0;
        assert!(e.contains("trailing characters"), "{e}");
    }

    #[test]
    fn projection_builds_only_named_fields_but_checks_everything() {
        let mut fields = FieldSet::new();
        fields.insert("valence");
        let row = parse_fields(br#"{"text":"hi","valence":0.5,"tags":["a"]}"#, &fields).unwrap();
        assert_eq!(row.len(), 1);
        assert_eq!(as_number(&row["valence"]), Some(0.5));
        assert!(parse_fields(br#"{"text":"hi,"valence":0.5}"#, &fields).is_err());
        assert!(parse_fields(br#"{"valence":0.5} {}"#, &fields).is_err());
        assert!(parse_fields(br#"[{"valence":0.5}]"#, &fields).is_err());
    }

    #[test]
    fn projection_handles_escaped_keys() {
        let mut fields = FieldSet::new();
        fields.insert("tags");
        let row = parse_fields(br#"{"t\u0061gs":["x"]}"#, &fields).unwrap();
        assert_eq!(row["tags"][0], "x");
    }

    #[test]
    fn raw_fields_keep_value_text() {
        let fields = parse_raw_fields(br#"{"a": 1e5, "b":{"c":[1, 2]},"t\u0061":"x\"y"}"#).unwrap();
        let got: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_ref(), *v)).collect();
        assert_eq!(
            got,
            [("a", "1e5"), ("b", r#"{"c":[1, 2]}"#), ("ta", r#""x\"y""#)]
        );
        assert!(parse_raw_fields(b"{\"a\":}").is_err());
        assert!(parse_raw_fields(b"{\"a\":1} 2").is_err());
    }

    #[test]
    fn lookup_walks_objects_and_arrays() {
        let row = parse_row(br#"{"vet":{"score":71},"context":["a","b"]}"#).unwrap();
        let path = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(lookup(&row, &path("vet.score")).unwrap(), 71);
        assert_eq!(lookup(&row, &path("context.1")).unwrap(), "b");
        assert!(lookup(&row, &path("vet.nope")).is_none());
        assert!(lookup(&row, &path("context.x")).is_none());
    }
}
