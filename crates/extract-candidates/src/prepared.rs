//! Messages made ready for the harvester on worker threads: the text's
//! normal-form key and length, whether role and tag selection keep it, and
//! the candidate's fields after `context` already written out. The
//! harvester, which must see messages in order, then only adds the context,
//! drops duplicates and writes.
//!
//! Chat JSONL and OpenAI-shaped rows are read here without building their
//! values: ids, timestamps and predictions are copied through as written.

use std::borrow::Cow;

use refinery_core::record::{parse_raw_fields, raw_object, RawFields};
use refinery_core::scan::needs_escape;
use refinery_core::text::key_and_chars;
use refinery_core::Location;
use serde_json::value::RawValue;
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_128;

use crate::join::{key_string, HeadJoin, JoinOn};
use crate::message::{FieldNames, Message, PREDICTION_FIELDS};

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
        Fields(&mut source_json).value("source", source);
        Prep {
            names,
            roles,
            tags,
            join,
            source_json,
            file: None,
        }
    }

    fn file_json(&self, f: &mut Fields, source: &std::sync::Arc<str>) {
        match &self.file {
            Some((name, json)) if name == source => f.0.extend_from_slice(json),
            _ => f.value("file", &**source),
        }
    }

    /// Caches the `"file"` field for an input read in parallel.
    pub fn for_file(mut self, name: std::sync::Arc<str>) -> Self {
        let mut json = Vec::new();
        Fields(&mut json).value("file", &*name);
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

/// Writes `,"name":value` pairs. Names are the tool's own (plain ASCII, no
/// escaping needed) except where `Name::Escape` says otherwise.
struct Fields<'b>(&'b mut Vec<u8>);

/// A field name: one of the tool's own, or one from the input.
#[derive(Clone, Copy)]
enum Name<'a> {
    Own(&'a str),
    Escape(&'a str),
}

impl Fields<'_> {
    fn name(&mut self, name: Name) {
        match name {
            Name::Own(n) => {
                self.0.extend_from_slice(b",\"");
                self.0.extend_from_slice(n.as_bytes());
                self.0.extend_from_slice(b"\":");
            }
            Name::Escape(n) => {
                self.0.push(b',');
                serde_json::to_writer(&mut self.0, n).expect("strings serialise");
                self.0.push(b':');
            }
        }
    }
    fn raw(&mut self, name: Name, raw: &[u8]) {
        self.name(name);
        self.0.extend_from_slice(raw);
    }
    /// A string value: copied between quotes when nothing in it needs an
    /// escape (the bytes serde_json would write), else through serde_json.
    fn string(&mut self, name: &str, v: &str) {
        if !needs_escape(v) {
            self.name(Name::Own(name));
            self.0.push(b'"');
            self.0.extend_from_slice(v.as_bytes());
            self.0.push(b'"');
        } else {
            self.value(name, v);
        }
    }
    fn value<T: serde::Serialize + ?Sized>(&mut self, name: &str, v: &T) {
        self.name(Name::Own(name));
        serde_json::to_writer(&mut self.0, v).expect("values serialise");
    }
}

/// A prediction or other field, as raw JSON or a built value.
enum Out<'a> {
    Raw(&'a str),
    Value(&'a Value),
}

impl Out<'_> {
    fn write(&self, fields: &mut Fields, name: Name) {
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
        let mut f = Fields(arena);
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
            id.write(&mut f, Name::Own("id"));
        }
        if let Some(ts) = &p.timestamp {
            ts.write(&mut f, Name::Own("timestamp"));
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
                v.write(&mut f, Name::Own(out_name));
            }
        }
        for (k, v) in &p.extra {
            if !PREDICTION_FIELDS.iter().any(|(field, _)| field == k) {
                v.write(&mut f, Name::Escape(k));
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

    /// A chat JSONL line: one message.
    pub fn chat_line(
        &self,
        bytes: &[u8],
        location: &Location,
        arena: &mut Vec<u8>,
    ) -> Result<Prepared, String> {
        let fields = parse_raw_fields(bytes).map_err(|e| e.0)?;
        self.raw_message(&fields, location, None, None, arena)
    }

    /// An OpenAI-shaped line: a conversation. Turns without text (a
    /// tool-calling assistant turn's `"content": null`) are not messages:
    /// they are counted in `TurnsWithoutText`, as are the non-text parts of
    /// a content given as a list of parts (whose text parts are joined).
    pub fn openai_line(
        &self,
        bytes: &[u8],
        location: &Location,
        arena: &mut Vec<u8>,
    ) -> Result<(Vec<Prepared>, TurnsWithoutText), String> {
        let fields = parse_raw_fields(bytes).map_err(|e| e.0)?;
        let turns = match find(&fields, &["messages".to_string()]) {
            Some((_, raw)) => serde_json::from_str::<Vec<&RawValue>>(raw)
                .map_err(|_| format!("messages: expected an array, found {}", kind(raw)))?,
            None => {
                return Err(
                    "no `messages` array (is this one message per line? use --format chat)".into(),
                )
            }
        };
        // The conversation's id: a session field, else `id`, else the line.
        let names = self.names;
        let session = find(&fields, &names.session)
            .or_else(|| find(&fields, &names.id))
            .map(|(k, v)| scalar(k, v))
            .transpose()?
            .map_or_else(|| location.to_string(), Cow::into_owned);
        let mut out = Vec::with_capacity(turns.len());
        let mut without = TurnsWithoutText::default();
        for (i, turn) in turns.iter().enumerate() {
            let joined: String;
            let mut turn_fields = raw_object(turn.get()).map_err(|_| {
                format!(
                    "messages[{i}]: expected an object, found {}",
                    kind(turn.get())
                )
            })?;
            match find(&turn_fields, &names.text) {
                None => {
                    without.turns += 1;
                    continue;
                }
                Some((k, raw)) if raw.starts_with('[') => {
                    let (text, other) =
                        join_text_parts(raw).map_err(|e| format!("messages[{i}]: {k}: {e}"))?;
                    without.parts += other;
                    let Some(text) = text else {
                        without.turns += 1;
                        continue;
                    };
                    joined = serde_json::to_string(&text).expect("a string");
                    let k = k.to_string();
                    turn_fields.retain(|(name, _)| *name != k);
                    turn_fields.push((k.into(), joined.as_str()));
                }
                Some(_) => {}
            }
            let m = self
                .raw_message(
                    &turn_fields,
                    location,
                    Some(session.clone()),
                    Some(i),
                    arena,
                )
                .map_err(|e| format!("messages[{i}]: {e}"))?;
            out.push(m);
        }
        Ok((out, without))
    }

    fn raw_message<'a>(
        &self,
        fields: &'a RawFields<'a>,
        location: &Location,
        session: Option<String>,
        turn: Option<usize>,
        arena: &mut Vec<u8>,
    ) -> Result<Prepared, String> {
        let names = self.names;
        let (text, text_json) = match find(fields, &names.text) {
            Some((_, json)) if json.starts_with('"') => {
                // Without a backslash the text is the JSON string's inside
                // (the scan that found it has checked it already).
                let text: Cow<str> = if json.contains('\\') {
                    serde_json::from_str(json).map_err(|e| e.to_string())?
                } else {
                    Cow::Borrowed(&json[1..json.len() - 1])
                };
                (text, json.as_bytes())
            }
            Some((k, raw)) => return Err(format!("{k}: expected a string, found {}", kind(raw))),
            None => {
                // An OpenAI conversation piped in cannot be told by its name.
                let hint = if fields
                    .iter()
                    .any(|(k, v)| k == "messages" && v.starts_with('['))
                {
                    "; the line has a `messages` list: an OpenAI conversation? add --format openai"
                } else {
                    ""
                };
                return Err(format!(
                    "no text field (looked for {}){hint}",
                    names.text.join(", ")
                ));
            }
        };
        let session = match session {
            Some(s) => Some(Cow::Owned(s)),
            None => find(fields, &names.session)
                .map(|(k, v)| scalar(k, v))
                .transpose()?,
        };
        let role = find(fields, &names.role)
            .map(|(k, v)| scalar(k, v))
            .transpose()?;
        let extra = fields
            .iter()
            .filter(|(k, v)| PREDICTION_FIELDS.iter().any(|(f, _)| f == k) && *v != "null")
            .map(|(k, v)| (k.as_ref(), Out::Raw(v)))
            .collect();
        Ok(self.finish(
            Parts {
                location,
                text,
                text_json: Some(text_json),
                session,
                role,
                turn,
                id: find(fields, &names.id).map(|(_, v)| Out::Raw(v)),
                timestamp: find(fields, &names.time).map(|(_, v)| Out::Raw(v)),
                extra,
            },
            arena,
        ))
    }
}

/// Turns of OpenAI-shaped conversations that gave no message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TurnsWithoutText {
    /// Turns whose text is null or missing, or a list without text parts.
    pub turns: u64,
    /// Parts of a list-of-parts content that are not text (images, audio…).
    pub parts: u64,
}

/// A content given as a list of parts (`[{"type": "text", "text": …},
/// {"type": "image_url", …}]`): the text parts joined by a newline (None
/// when there are none), and how many parts were not text.
fn join_text_parts(raw: &str) -> Result<(Option<String>, u64), String> {
    let parts: Vec<serde_json::Value> =
        serde_json::from_str(raw).map_err(|e| format!("not a list of parts: {e}"))?;
    let mut texts = Vec::new();
    let mut other = 0;
    for part in &parts {
        match (part.get("type").and_then(|t| t.as_str()), part.get("text")) {
            (Some("text") | None, Some(serde_json::Value::String(t))) => texts.push(t.as_str()),
            _ => other += 1,
        }
    }
    Ok(((!texts.is_empty()).then(|| texts.join("\n")), other))
}

/// The first of `names` present and not null.
fn find<'a>(fields: &'a RawFields<'a>, names: &[String]) -> Option<(&'a str, &'a str)> {
    names.iter().find_map(|n| {
        fields
            .iter()
            .rev()
            .find(|(k, v)| k == n && *v != "null")
            .map(|(k, v)| (k.as_ref(), *v))
    })
}

fn kind(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// A string or number naming a session or role, borrowed from the line
/// unless it has escapes.
fn scalar<'a>(field: &str, raw: &'a str) -> Result<Cow<'a, str>, String> {
    let text = raw;
    if text.starts_with('"') {
        // A checked JSON string without a backslash is its inside.
        if !text.contains('\\') {
            return Ok(Cow::Borrowed(&text[1..text.len() - 1]));
        }
        return serde_json::from_str::<String>(text)
            .map(Cow::Owned)
            .map_err(|e| e.to_string());
    }
    match kind(raw) {
        "a number" => Ok(Cow::Borrowed(text)),
        other => Err(format!(
            "{field}: expected a string or number, found {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::Fields;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for s in [
            "plain",
            "",
            "tab\there",
            "quote\"",
            "back\\slash",
            "é😀\u{7f}",
            "\u{1}",
        ] {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            Fields(&mut fast).string("k", s);
            Fields(&mut slow).value("k", s);
            assert_eq!(fast, slow, "{s:?}");
        }
    }
}
