//! Messages made ready for the harvester on worker threads: the text's
//! normal-form key and length, whether role and tag selection keep it, and
//! the candidate's fields after `context` already written out. The
//! harvester, which must see messages in order, then only adds the context,
//! drops duplicates and writes.
//!
//! Chat JSONL and OpenAI-shaped rows are read in [`lines`] without building
//! their values: ids, timestamps and predictions are copied through as
//! written.

use std::borrow::Cow;

use refinery_core::text::key_and_chars;
use refinery_core::writer::{FieldName, FieldWriter};
use refinery_core::Location;
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_128;

use crate::join::{key_string, HeadJoin, JoinOn};
use crate::message::{FieldNames, Message, PREDICTION_FIELDS};

mod lines;

pub use lines::TurnsWithoutText;

/// What a worker needs to prepare a message.
pub struct Prep<'a> {
    pub names: &'a FieldNames,
    pub roles: &'a [String],
    pub tags: &'a [String],
    pub join: Option<&'a HeadJoin>,
    /// `,"source":…` as JSON, written once
    source_json: Vec<u8>,
    /// the input's name and its JSON, for `"file"`
    file: Option<(std::sync::Arc<str>, Vec<u8>)>,
}

impl<'a> Prep<'a> {
    pub fn new(
        names: &'a FieldNames,
        roles: &'a [String],
        tags: &'a [String],
        join: Option<&'a HeadJoin>,
        source: &str,
    ) -> Self {
        let mut source_json = Vec::new();
        FieldWriter(&mut source_json).value("source", source);
        Prep {
            names,
            roles,
            tags,
            join,
            source_json,
            file: None,
        }
    }

    fn file_json(&self, f: &mut FieldWriter, source: &std::sync::Arc<str>) {
        match &self.file {
            Some((name, json)) if name == source => f.0.extend_from_slice(json),
            _ => f.value("file", &**source),
        }
    }

    /// Caches the `"file"` field for an input read in parallel.
    pub fn for_file(mut self, name: std::sync::Arc<str>) -> Self {
        let mut json = Vec::new();
        FieldWriter(&mut json).value("file", &*name);
        self.file = Some((name, json));
        self
    }
}

/// A message ready for the harvester.
pub struct Prepared {
    /// where its bytes are in the arena of its chunk: the text as a JSON
    /// string (`start..text_end`), then `,"source":…` and every field after
    /// it without the closing brace (`text_end..end`). One buffer per chunk,
    /// not an allocation per message freed on another thread.
    start: usize,
    text_end: usize,
    end: usize,
    /// the conversation it belongs to (its session, or the file without a
    /// session field), as XXH3-128 of the name: the harvester keys its
    /// history by it without allocating or comparing strings
    pub conversation: u128,
    pub role_ok: bool,
    pub tag_ok: bool,
    pub chars: usize,
    pub key: u128,
    /// the affect-head row joined to it
    pub joined: Option<u32>,
}

impl Prepared {
    /// The text as a JSON string.
    pub fn text_json<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        &arena[self.start..self.text_end]
    }

    /// `,"source":…` and every field after it, without the closing brace.
    pub fn rest<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        &arena[self.text_end..self.end]
    }
}

/// A prediction or other field, as raw JSON or a built value.
enum Out<'a> {
    Raw(&'a str),
    Value(&'a Value),
}

impl Out<'_> {
    fn write(&self, fields: &mut FieldWriter, name: FieldName) {
        match self {
            Out::Raw(r) => fields.raw(name, r.as_bytes()),
            Out::Value(v) => {
                fields.name(name);
                serde_json::to_writer(&mut fields.0, v).expect("values serialise");
            }
        }
    }
    fn strings(&self) -> Vec<String> {
        let owned;
        let v = match self {
            Out::Value(v) => *v,
            Out::Raw(r) => {
                owned = serde_json::from_str::<Value>(r).unwrap_or(Value::Null);
                &owned
            }
        };
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The parts of a message every source has, however it was read.
struct Parts<'a> {
    location: &'a Location,
    text: Cow<'a, str>,
    text_json: Option<&'a [u8]>,
    session: Option<Cow<'a, str>>,
    role: Option<Cow<'a, str>>,
    turn: Option<usize>,
    id: Option<Out<'a>>,
    timestamp: Option<Out<'a>>,
    /// predictions, then other fields the source carries, in order
    extra: Vec<(&'a str, Out<'a>)>,
}

impl Prep<'_> {
    fn finish(&self, p: Parts, arena: &mut Vec<u8>) -> Prepared {
        let mut joined = None;
        let mut head: Option<&crate::join::Predictions> = None;
        if let Some(join) = self.join {
            let key = match join.on {
                JoinOn::Id => p.id.as_ref().and_then(|id| match id {
                    Out::Value(v) => key_string(v),
                    Out::Raw(r) => serde_json::from_str::<Value>(r)
                        .ok()
                        .as_ref()
                        .and_then(key_string),
                }),
                JoinOn::Text => Some(p.text.to_string()),
            };
            if let Some((i, row)) = key.as_deref().and_then(|k| join.lookup(k)) {
                joined = Some(i);
                head = Some(row);
            }
        }
        let start = arena.len();
        let mut f = FieldWriter(arena);
        match p.text_json {
            Some(raw) => f.0.extend_from_slice(raw),
            None => serde_json::to_writer(&mut f.0, p.text.as_ref()).expect("strings serialise"),
        }
        let text_end = f.0.len();
        f.0.extend_from_slice(&self.source_json);
        if let Some(s) = &p.session {
            f.string("session_id", s);
        }
        self.file_json(&mut f, &p.location.source);
        f.value("line", &p.location.line);
        if let Some(t) = p.turn {
            f.value("turn", &t);
        }
        if let Some(id) = &p.id {
            id.write(&mut f, FieldName::Own("id"));
        }
        if let Some(ts) = &p.timestamp {
            ts.write(&mut f, FieldName::Own("timestamp"));
        }
        if let Some(r) = &p.role {
            f.string("role", r);
        }
        // Predictions in a fixed order, the head's winning over the source's.
        let mut tags: Vec<String> = Vec::new();
        for (field, out_name) in PREDICTION_FIELDS {
            let from_head = head
                .and_then(|h| h.iter().find(|(k, _)| k == field))
                .map(|(_, raw)| Out::Raw(raw));
            let from_source = || {
                p.extra
                    .iter()
                    .find(|(k, _)| *k == field)
                    .map(|(_, v)| match v {
                        Out::Raw(r) => Out::Raw(r),
                        Out::Value(v) => Out::Value(v),
                    })
            };
            if let Some(v) = from_head.or_else(from_source) {
                if !self.tags.is_empty() && (field == "tags" || field == "emotions") {
                    tags.extend(v.strings());
                }
                v.write(&mut f, FieldName::Own(out_name));
            }
        }
        for (k, v) in &p.extra {
            if !PREDICTION_FIELDS.iter().any(|(field, _)| field == k) {
                v.write(&mut f, FieldName::Escape(k));
            }
        }
        let (key, chars) = key_and_chars(&p.text);
        Prepared {
            role_ok: self.roles.is_empty()
                || p.role
                    .as_ref()
                    .is_some_and(|r| self.roles.iter().any(|x| x == r)),
            tag_ok: self.tags.is_empty() || tags.iter().any(|t| self.tags.contains(t)),
            chars,
            key,
            conversation: match &p.session {
                Some(s) => xxh3_128(s.as_bytes()),
                None => xxh3_128(p.location.source.as_bytes()),
            },
            start,
            text_end,
            end: f.0.len(),
            joined,
        }
    }

    /// A message read by one of the sequential readers (logs, GoEmotions).
    pub fn message(&self, m: &Message, arena: &mut Vec<u8>) -> Prepared {
        let extra = m
            .predictions
            .iter()
            .map(|(k, v)| (k.as_str(), Out::Value(v)))
            .collect();
        self.finish(
            Parts {
                location: &m.location,
                text: Cow::Borrowed(&m.text),
                text_json: None,
                session: m.session.as_deref().map(Cow::Borrowed),
                role: m.role.as_deref().map(Cow::Borrowed),
                turn: m.turn,
                id: m.id.as_ref().map(Out::Value),
                timestamp: m.timestamp.as_ref().map(Out::Value),
                extra,
            },
            arena,
        )
    }
}
