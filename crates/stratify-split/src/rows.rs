//! What the splitter needs from each row, read on worker threads: the
//! stratum, the group, the normalised text's key and whether the row
//! already has a `split` field.

use refinery_core::parallel::Chunk;
use refinery_core::reader::too_long_reason;
use refinery_core::record::{
    lookup, parse_fields, parse_raw_fields, parse_row, splice_fields_into, with_fields, FieldSet,
    Row,
};
use refinery_core::rejects::BadLine;
use refinery_core::text::text_key;
use serde_json::Value;

/// The output field.
pub const SPLIT_FIELD: &str = "split";
/// The stratum of rows without the `--by` field.
pub const NO_STRATUM: &str = "(none)";

/// Where to find a row's stratum, group and key.
pub struct Fields {
    pub by: Vec<String>,
    pub group: Option<Vec<String>>,
    /// hash mode's `--key`; `None` means the normalised text
    pub key: Option<Vec<String>>,
    pub projection: FieldSet,
}

impl Fields {
    pub fn new(by: Vec<String>, group: Option<Vec<String>>, key: Option<Vec<String>>) -> Self {
        let mut projection = FieldSet::new();
        projection.insert(by[0].clone());
        projection.insert("text");
        projection.insert(SPLIT_FIELD);
        for p in group.iter().chain(key.iter()) {
            projection.insert(p[0].clone());
        }
        Fields {
            by,
            group,
            key,
            projection,
        }
    }
}

/// The `split` field for each split, built once.
pub struct SplitFields {
    fields: Vec<[(&'static str, Value); 1]>,
}

impl SplitFields {
    pub fn new(names: &[String]) -> Self {
        let fields = names
            .iter()
            .map(|n| [(SPLIT_FIELD, Value::from(n.as_str()))])
            .collect();
        SplitFields { fields }
    }

    /// Appends the row with its `split` to `out` (no newline): spliced in
    /// before the closing brace, or, when the row has one already (a
    /// re-split), replaced where it stands.
    pub fn append(
        &self,
        out: &mut Vec<u8>,
        raw: &[u8],
        has_split: bool,
        split: usize,
    ) -> Result<(), String> {
        let field = &self.fields[split];
        if has_split {
            let full = parse_row(raw).map_err(|e| e.0)?;
            out.extend_from_slice(&with_fields(raw, &full, field));
        } else {
            splice_fields_into(out, raw, field);
        }
        Ok(())
    }
}

/// A value as a key: strings as themselves, anything else as JSON text.
pub fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a worker learns from one line.
pub struct Meta {
    /// index into the chunk's `ReadPart::strata`
    pub stratum: u32,
    pub group: Option<String>,
    pub text: Option<u128>,
    pub has_split: bool,
}

/// A chunk's distinct strata, so a row carries an index, not a string.
#[derive(Default)]
pub struct Strata {
    pub names: Vec<String>,
    index: rustc_hash::FxHashMap<String, u32>,
}

impl Strata {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }
}

/// The general path, from a parsed row (dotted paths, any value type).
fn meta(row: &Row, fields: &Fields, strata: &mut Strata) -> Meta {
    let present = |path: &[String]| lookup(row, path).filter(|v| !v.is_null());
    let stratum = present(&fields.by).map_or_else(|| NO_STRATUM.to_string(), key_text);
    Meta {
        stratum: strata.intern(&stratum),
        group: fields.group.as_deref().and_then(present).map(key_text),
        text: row.get("text").and_then(Value::as_str).map(text_key),
        has_split: row.contains_key(SPLIT_FIELD),
    }
}

/// The fast path for top-level fields holding strings (or null, or absent):
/// values are read in place, nothing is built. `None` sends the line to the
/// general path, which gives the same answer.
fn meta_fast(bytes: &[u8], fields: &Fields, strata: &mut Strata) -> Option<Meta> {
    if fields.by.len() != 1 || fields.group.as_ref().is_some_and(|g| g.len() != 1) {
        return None;
    }
    let raw = parse_raw_fields(bytes).ok()?;
    let last = |name: &str| raw.iter().rev().find(|(k, _)| k == name).map(|(_, v)| *v);
    // A string field's text, `Some(None)` when absent or null, `None` for
    // other types (the general path spells those as JSON).
    let string = |name: &str| -> Option<Option<std::borrow::Cow<str>>> {
        match last(name) {
            None | Some("null") => Some(None),
            Some(v) if v.starts_with('"') => serde_json::from_str(v).ok().map(Some),
            Some(_) => None,
        }
    };
    let stratum = string(&fields.by[0])?;
    let group = match &fields.group {
        Some(g) => string(&g[0])?.map(|s| s.into_owned()),
        None => None,
    };
    let text = match last("text") {
        Some(v) if v.starts_with('"') => Some(text_key(
            &serde_json::from_str::<std::borrow::Cow<str>>(v).ok()?,
        )),
        _ => None,
    };
    Some(Meta {
        stratum: strata.intern(stratum.as_deref().unwrap_or(NO_STRATUM)),
        group,
        text,
        has_split: raw.iter().any(|(k, _)| k == SPLIT_FIELD),
    })
}

/// One chunk, read: what each good line says, and the bad lines.
pub struct ReadPart {
    pub metas: Vec<Meta>,
    pub strata: Strata,
    pub bad: Vec<BadLine>,
    pub lines: u64,
}

pub fn read_chunk(chunk: &Chunk, fields: &Fields, max_line_bytes: usize) -> ReadPart {
    let mut part = ReadPart {
        metas: Vec::with_capacity(chunk.len()),
        strata: Strata::default(),
        bad: Vec::new(),
        lines: chunk.len() as u64,
    };
    for line in chunk.lines() {
        let parsed = match line.too_long {
            Some(len) => Err(too_long_reason(len, max_line_bytes)),
            None => match meta_fast(line.bytes, fields, &mut part.strata) {
                Some(m) => Ok(m),
                None => parse_fields(line.bytes, &fields.projection)
                    .map(|row| meta(&row, fields, &mut part.strata))
                    .map_err(|e| e.0),
            },
        };
        match parsed {
            Ok(m) => part.metas.push(m),
            Err(reason) => part.bad.push(BadLine {
                location: line.location.clone(),
                reason,
                raw: line.bytes.to_vec(),
            }),
        }
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;
    use refinery_core::record::parse_row;

    #[test]
    fn fast_and_general_paths_agree() {
        let fields = Fields::new(
            vec!["archetype".into()],
            Some(vec!["session_id".into()]),
            None,
        );
        for line in [
            r#"{"text":"Hi  There","archetype":"flat_numb","session_id":"s1"}"#,
            r#"{"text":"caf\u00e9","archetype":null,"split":"dev"}"#,
            r#"{"archetype":"b","text":5}"#,
            r#"{}"#,
        ] {
            let (mut a, mut b) = (Strata::default(), Strata::default());
            let fast = meta_fast(line.as_bytes(), &fields, &mut a).expect("fast path takes it");
            let general = meta(&parse_row(line.as_bytes()).unwrap(), &fields, &mut b);
            assert_eq!(
                a.names[fast.stratum as usize], b.names[general.stratum as usize],
                "{line}"
            );
            assert_eq!(
                (fast.group, fast.text, fast.has_split),
                (general.group, general.text, general.has_split),
                "{line}"
            );
        }
        let mut s = Strata::default();
        // A repeated key is bad input on both paths.
        let repeated = br#"{"archetype":"a","archetype":"b"}"#;
        assert!(meta_fast(repeated, &fields, &mut s).is_none());
        assert!(parse_row(repeated).is_err());
        assert!(meta_fast(br#"{"archetype":3}"#, &fields, &mut s).is_none());
        assert!(meta_fast(br#"{"session_id":{"a":1}}"#, &fields, &mut s).is_none());
    }
}
