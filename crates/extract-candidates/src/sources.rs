//! The sequential sources: plain-text logs through a regex (a message may
//! continue over several lines) and GoEmotions split files (TSV). Each
//! reader hands every message, and every line it cannot use, to the caller
//! in input order. (Chat JSONL is read in parallel, in `prepared`.)

use refinery_core::goemotions::LABELS;
use refinery_core::reader::LineReader;
use refinery_core::record::Row;
use refinery_core::rejects::BadLine;
use refinery_core::{Location, Result};
use regex::Regex;
use serde_json::Value;

use crate::message::Message;

/// What a reader found.
pub enum Event {
    Message(Box<Message>),
    /// a line that cannot be used, and why
    Bad(BadLine),
}

/// Plain-text logs: each line matched by `pattern`, whose named groups
/// `text` (required), `session`, `role`, `ts` and `id` fill the message. A
/// line that does not match is bad input, unless `continuation` is set: then
/// it continues the previous message's text (joined with a newline).
pub fn read_log(
    reader: &mut LineReader,
    pattern: &Regex,
    continuation: bool,
    sink: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    let mut pending: Option<Message> = None;
    while let Some(line) = reader.next_line()? {
        let text = String::from_utf8_lossy(line.bytes);
        match pattern.captures(&text) {
            Some(caps) => {
                if let Some(m) = pending.take() {
                    sink(Event::Message(Box::new(m)))?;
                }
                let group = |name: &str| caps.name(name).map(|m| m.as_str().to_string());
                pending = Some(Message {
                    location: line.location.clone(),
                    text: group("text").unwrap_or_default(),
                    session: group("session"),
                    role: group("role"),
                    id: group("id").map(Value::String),
                    timestamp: group("ts").map(Value::String),
                    turn: None,
                    predictions: Row::new(),
                });
            }
            None if continuation && pending.is_some() => {
                let m = pending.as_mut().expect("checked");
                m.text.push('\n');
                m.text.push_str(&text);
            }
            None => {
                let why = if continuation {
                    "line does not match --line-pattern, and there is no message before it to continue"
                } else {
                    "line does not match --line-pattern (use --continuation to join it to the message before)"
                };
                sink(Event::Bad(BadLine {
                    location: line.location,
                    reason: why.into(),
                    raw: line.bytes.to_vec(),
                }))?;
            }
        }
    }
    if let Some(m) = pending {
        sink(Event::Message(Box::new(m)))?;
    }
    Ok(())
}

/// Checks a `--line-pattern` has the group a message needs.
pub fn check_log_pattern(pattern: &Regex) -> Result<(), String> {
    if pattern.capture_names().flatten().any(|n| n == "text") {
        Ok(())
    } else {
        Err("--line-pattern needs a named group `text`, e.g. '^(?P<ts>\\S+) \\[(?P<session>[^\\]]+)\\] (?P<role>\\w+): (?P<text>.*)$'".into())
    }
}

/// GoEmotions split files: `text<TAB>label ids<TAB>comment id`, no header,
/// quoting off (CSV-style doubled quotes in the text are kept as they are).
pub fn read_goemotions_tsv(
    reader: &mut LineReader,
    sink: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    while let Some(line) = reader.next_line()? {
        let event = match goemotions_line(line.bytes, &line.location) {
            Ok(m) => Event::Message(Box::new(m)),
            Err(reason) => Event::Bad(BadLine {
                location: line.location,
                reason,
                raw: line.bytes.to_vec(),
            }),
        };
        sink(event)?;
    }
    Ok(())
}

fn goemotions_line(bytes: &[u8], location: &Location) -> Result<Message, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1))?;
    let fields: Vec<&str> = text.split('\t').collect();
    let [text, ids, comment] = fields[..] else {
        return Err(format!(
            "expected 3 tab-separated fields (text, label ids, comment id), found {}",
            fields.len()
        ));
    };
    let mut emotions = Vec::new();
    for id in ids.split(',') {
        let label = id
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|i| LABELS.get(i))
            .ok_or_else(|| format!("label id {id:?} is not one of 0..{}", LABELS.len() - 1))?;
        emotions.push(Value::from(*label));
    }
    let mut predictions = Row::new();
    predictions.insert("emotions".into(), emotions.into());
    Ok(Message {
        location: location.clone(),
        text: text.to_string(),
        session: None,
        role: None,
        id: Some(Value::from(comment.trim())),
        timestamp: None,
        turn: None,
        predictions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> Location {
        Location {
            source: "dev.tsv".into(),
            line: 3,
        }
    }

    #[test]
    fn goemotions_rows_keep_their_quotes() {
        let m = goemotions_line(
            b"Three words... \"\"Dude. Stop.\"\" \t6,9,27\tee84bjg",
            &loc(),
        )
        .unwrap();
        assert_eq!(m.text, "Three words... \"\"Dude. Stop.\"\" ");
        assert_eq!(
            m.predictions["emotions"],
            serde_json::json!(["confusion", "disappointment", "neutral"])
        );
        assert_eq!(m.id, Some(Value::from("ee84bjg")));
        assert_eq!(
            goemotions_line(b"text\t28\tid", &loc()).unwrap_err(),
            "label id \"28\" is not one of 0..27"
        );
        assert!(goemotions_line(b"text only", &loc())
            .unwrap_err()
            .starts_with("expected 3"));
    }
}
