//! Joining affect-head output (`affect_head_raw.jsonl`: predicted valence,
//! intimacy, tension and tags per utterance) to transcript messages, by a
//! message id or by exact text.

use std::collections::hash_map::Entry;
use std::path::Path;

use refinery_core::reader::{Input, LineReader, DEFAULT_MAX_LINE_BYTES};
use refinery_core::record::parse_raw_fields;
use refinery_core::{Error, Result};
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::message::PREDICTION_FIELDS;

/// How head rows find their message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum JoinOn {
    /// the head row's `id` equals the message's id
    Id,
    /// the head row's `text` equals the message's text exactly
    Text,
}

/// The head's predictions, looked up by key; read-only, so workers share it.
pub struct HeadJoin {
    pub on: JoinOn,
    index: FxHashMap<String, u32>,
    /// Each head row's prediction fields: name and value as written (its
    /// numbers copied exactly, `1E-1` stays `1E-1`).
    predictions: Vec<Predictions>,
    pub duplicate_keys: u64,
}

/// A head row's prediction fields as (name, JSON text) pairs.
pub type Predictions = Vec<(String, String)>;

/// A scalar as a join key: strings as themselves, numbers as written.
pub fn key_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl HeadJoin {
    /// Loads the head file; a bad line in it stops the tool (`file:line`).
    pub fn load(path: &Path, on: JoinOn) -> Result<HeadJoin> {
        let mut reader = LineReader::new(
            vec![Input::File(path.to_path_buf())],
            DEFAULT_MAX_LINE_BYTES,
        );
        let mut join = HeadJoin {
            on,
            index: FxHashMap::default(),
            predictions: Vec::new(),
            duplicate_keys: 0,
        };
        let field = match on {
            JoinOn::Id => "id",
            JoinOn::Text => "text",
        };
        while let Some(line) = reader.next_line()? {
            let raw = parse_raw_fields(line.bytes)
                .map_err(|e| Error::data(line.location.clone(), e.0))?;
            let value_of = |name: &str| {
                raw.iter()
                    .find(|(k, v)| k == name && *v != "null")
                    .map(|(_, v)| *v)
            };
            let key = value_of(field)
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
                .as_ref()
                .and_then(key_string);
            let Some(key) = key else {
                return Err(Error::data(
                    line.location,
                    format!("affect-head row has no `{field}` to join on (--join-on)"),
                ));
            };
            let predictions: Predictions = PREDICTION_FIELDS
                .iter()
                .filter_map(|(name, _)| Some((name.to_string(), value_of(name)?.to_string())))
                .collect();
            match join.index.entry(key) {
                Entry::Occupied(_) => join.duplicate_keys += 1,
                Entry::Vacant(e) => {
                    e.insert(join.predictions.len() as u32);
                    join.predictions.push(predictions);
                }
            }
        }
        Ok(join)
    }

    /// The head row for a key: its index and predictions.
    pub fn lookup(&self, key: &str) -> Option<(u32, &Predictions)> {
        self.index
            .get(key)
            .map(|&i| (i, &self.predictions[i as usize]))
    }

    pub fn len(&self) -> usize {
        self.predictions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.predictions.is_empty()
    }
}
