//! What the splitter needs from each row, read on worker threads: the
//! stratum, the group, the normalised text's key and whether the row
//! already has a `split` field.

use refinery_core::parallel::Chunk;
use refinery_core::reader::too_long_reason;
use refinery_core::record::{lookup, parse_fields, FieldSet, Row};
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

/// A value as a key: strings as themselves, anything else as JSON text.
pub fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a worker learns from one line.
pub struct Meta {
    pub stratum: String,
    pub group: Option<String>,
    pub text: Option<u128>,
    /// the `--key` value (hash mode), when given and present
    pub key: Option<String>,
    pub has_split: bool,
}

pub fn meta(row: &Row, fields: &Fields) -> Meta {
    let present = |path: &[String]| lookup(row, path).filter(|v| !v.is_null());
    Meta {
        stratum: present(&fields.by).map_or_else(|| NO_STRATUM.to_string(), key_text),
        group: fields.group.as_deref().and_then(present).map(key_text),
        text: row.get("text").and_then(Value::as_str).map(text_key),
        key: fields.key.as_deref().and_then(present).map(key_text),
        has_split: row.contains_key(SPLIT_FIELD),
    }
}

/// One chunk, read: the good lines' bytes end to end, their lengths and
/// what they say, and the bad lines.
pub struct ReadPart {
    pub bytes: Vec<u8>,
    pub lens: Vec<u32>,
    pub metas: Vec<Meta>,
    pub bad: Vec<BadLine>,
    pub lines: u64,
}

/// Reads a chunk; `keep_bytes` keeps the good lines' bytes (needed when
/// the input cannot be read a second time).
pub fn read_chunk(
    chunk: &Chunk,
    fields: &Fields,
    max_line_bytes: usize,
    keep_bytes: bool,
) -> ReadPart {
    let total: usize = if keep_bytes {
        chunk.lines().map(|l| l.bytes.len()).sum()
    } else {
        0
    };
    let mut part = ReadPart {
        bytes: Vec::with_capacity(total),
        lens: Vec::with_capacity(chunk.len()),
        metas: Vec::with_capacity(chunk.len()),
        bad: Vec::new(),
        lines: chunk.len() as u64,
    };
    for line in chunk.lines() {
        let parsed = match line.too_long {
            Some(len) => Err(too_long_reason(len, max_line_bytes)),
            None => parse_fields(line.bytes, &fields.projection).map_err(|e| e.0),
        };
        match parsed {
            Ok(row) => {
                if keep_bytes {
                    part.bytes.extend_from_slice(line.bytes);
                    part.lens.push(line.bytes.len() as u32);
                }
                part.metas.push(meta(&row, fields));
            }
            Err(reason) => part.bad.push(BadLine {
                location: line.location,
                reason,
                raw: line.bytes.to_vec(),
            }),
        }
    }
    part
}
