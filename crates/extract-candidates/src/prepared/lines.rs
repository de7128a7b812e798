//! The line readers of chat JSONL (one message a line) and OpenAI-shaped
//! JSONL (one conversation a line), which pick a message's fields out of
//! the raw line without building its values.

use std::borrow::Cow;

use refinery_core::record::{parse_raw_fields, raw_object, RawFields};
use refinery_core::Location;
use serde_json::value::RawValue;

use super::{Out, Parts, Prep, Prepared};
use crate::message::PREDICTION_FIELDS;

impl Prep<'_> {
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
