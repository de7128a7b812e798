//! Turning messages into candidates: the conversation context, the
//! selection (role, tag, predicate, length) and duplicate removal. Messages
//! arrive in input order; sessions may interleave.

use std::collections::VecDeque;

use refinery_core::expr::Predicate;
use refinery_core::record::Row;
use refinery_core::text::text_key;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use crate::message::{Message, PREDICTION_FIELDS};

/// Which messages become candidates.
pub struct Selection {
    /// keep only these roles (any role when empty)
    pub roles: Vec<String>,
    /// keep only messages whose predicted tags or emotions include one of these
    pub tags: Vec<String>,
    pub predicate: Option<Predicate>,
    pub min_chars: usize,
    pub max_chars: usize,
    pub dedup: bool,
    /// turns of context, ending at the message itself (0: none)
    pub context: usize,
    /// the `source` written on every candidate
    pub source: String,
}

/// Why messages were left out, for the stderr report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    pub role: u64,
    pub tag: u64,
    pub length: u64,
    pub predicate: u64,
    pub duplicate: u64,
}

impl LeftOut {
    pub fn total(&self) -> u64 {
        self.role + self.tag + self.length + self.predicate + self.duplicate
    }

    pub fn describe(&self) -> String {
        let parts = [
            (self.role, "by --role"),
            (self.tag, "by --tag"),
            (self.length, "by length"),
            (self.predicate, "by --where"),
            (self.duplicate, "as duplicate texts"),
        ];
        let listed: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, why)| format!("{n} {why}"))
            .collect();
        listed.join(", ")
    }
}

pub struct Harvester {
    selection: Selection,
    history: FxHashMap<String, VecDeque<String>>,
    seen: FxHashSet<u128>,
    pub left_out: LeftOut,
}

impl Harvester {
    pub fn new(selection: Selection) -> Self {
        Harvester {
            selection,
            history: FxHashMap::default(),
            seen: FxHashSet::default(),
            left_out: LeftOut::default(),
        }
    }

    /// Records the message in its conversation and returns its candidate
    /// row, or `None` when the selection leaves it out (counted).
    pub fn offer(&mut self, message: Message) -> Option<Row> {
        let context = self.remember(&message);
        let sel = &self.selection;
        if !sel.roles.is_empty() && !message.role.as_ref().is_some_and(|r| sel.roles.contains(r)) {
            self.left_out.role += 1;
            return None;
        }
        if !sel.tags.is_empty() && !has_tag(&message.predictions, &sel.tags) {
            self.left_out.tag += 1;
            return None;
        }
        let chars = message.text.chars().count();
        if chars < sel.min_chars || chars > sel.max_chars {
            self.left_out.length += 1;
            return None;
        }
        let row = candidate_row(message, context, &sel.source);
        if sel.predicate.as_ref().is_some_and(|p| !p.matches(&row)) {
            self.left_out.predicate += 1;
            return None;
        }
        if sel.dedup
            && !self
                .seen
                .insert(text_key(row["text"].as_str().unwrap_or_default()))
        {
            self.left_out.duplicate += 1;
            return None;
        }
        Some(row)
    }

    /// Adds the message to its conversation's history and returns the
    /// context: the last `context` turns, ending with this one.
    fn remember(&mut self, message: &Message) -> Option<Vec<String>> {
        let n = self.selection.context;
        if n == 0 {
            return None;
        }
        // Without a session field, a file is one conversation.
        let key = match &message.session {
            Some(s) => s.as_str(),
            None => &message.location.source,
        };
        let turns = match self.history.get_mut(key) {
            Some(t) => t,
            None => self.history.entry(key.to_string()).or_default(),
        };
        turns.push_back(message.text.clone());
        while turns.len() > n {
            turns.pop_front();
        }
        Some(turns.iter().cloned().collect())
    }
}

fn has_tag(predictions: &Row, wanted: &[String]) -> bool {
    ["tags", "emotions"].iter().any(|field| {
        predictions
            .get(*field)
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items
                    .iter()
                    .any(|t| t.as_str().is_some_and(|t| wanted.iter().any(|w| w == t)))
            })
    })
}

fn candidate_row(m: Message, context: Option<Vec<String>>, source: &str) -> Row {
    let mut row = Row::new();
    row.insert("text".into(), Value::String(m.text));
    if let Some(turns) = context {
        row.insert("context".into(), turns.into());
    }
    row.insert("source".into(), source.into());
    if let Some(s) = m.session {
        row.insert("session_id".into(), s.into());
    }
    row.insert("file".into(), (*m.location.source).into());
    row.insert("line".into(), m.location.line.into());
    if let Some(turn) = m.turn {
        row.insert("turn".into(), turn.into());
    }
    if let Some(id) = m.id {
        row.insert("id".into(), id);
    }
    if let Some(ts) = m.timestamp {
        row.insert("timestamp".into(), ts);
    }
    if let Some(role) = m.role {
        row.insert("role".into(), role.into());
    }
    for (field, value) in m.predictions {
        let name = PREDICTION_FIELDS
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(field.as_str(), |(_, out)| out);
        row.insert(name.to_string(), value);
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use refinery_core::Location;

    fn msg(line: u64, session: &str, role: &str, text: &str) -> Message {
        Message {
            location: Location {
                source: "chat.jsonl".into(),
                line,
            },
            text: text.into(),
            session: Some(session.into()),
            role: Some(role.into()),
            id: None,
            timestamp: None,
            turn: None,
            predictions: Row::new(),
        }
    }

    fn selection() -> Selection {
        Selection {
            roles: vec!["user".into()],
            tags: vec![],
            predicate: None,
            min_chars: 1,
            max_chars: 1000,
            dedup: true,
            context: 2,
            source: "manual_chat".into(),
        }
    }

    #[test]
    fn context_follows_each_session_through_interleaving() {
        let mut h = Harvester::new(selection());
        assert!(h.offer(msg(1, "a", "assistant", "hello a")).is_none());
        assert!(h.offer(msg(2, "b", "assistant", "hello b")).is_none());
        let row = h.offer(msg(3, "a", "user", "reply a")).unwrap();
        assert_eq!(row["context"], serde_json::json!(["hello a", "reply a"]));
        let row = h.offer(msg(4, "b", "user", "reply b")).unwrap();
        assert_eq!(row["context"], serde_json::json!(["hello b", "reply b"]));
        assert_eq!(row["line"], 4);
        assert_eq!(h.left_out.role, 2);
    }

    #[test]
    fn duplicates_and_lengths_are_counted() {
        let mut h = Harvester::new(Selection {
            min_chars: 3,
            ..selection()
        });
        assert!(h.offer(msg(1, "a", "user", "Same text")).is_some());
        assert!(h.offer(msg(2, "b", "user", "  same   TEXT ")).is_none());
        assert!(h.offer(msg(3, "b", "user", "no")).is_none());
        assert_eq!(
            h.left_out,
            LeftOut {
                duplicate: 1,
                length: 1,
                ..LeftOut::default()
            }
        );
        assert_eq!(h.left_out.describe(), "1 by length, 1 as duplicate texts");
    }

    #[test]
    fn tag_and_predicate_selection_see_predictions() {
        let sel = Selection {
            tags: vec!["tension".into()],
            predicate: Some(Predicate::parse("pred_valence <= -0.2").unwrap()),
            ..selection()
        };
        let mut h = Harvester::new(sel);
        let mut m = msg(1, "a", "user", "why are you like this");
        m.predictions
            .insert("tags".into(), serde_json::json!(["tension"]));
        m.predictions
            .insert("valence".into(), serde_json::json!(-0.5));
        let row = h.offer(m.clone()).unwrap();
        assert_eq!(row["pred_tags"], serde_json::json!(["tension"]));
        m.text = "other".into();
        m.predictions
            .insert("valence".into(), serde_json::json!(0.5));
        assert!(h.offer(m.clone()).is_none());
        m.predictions
            .insert("tags".into(), serde_json::json!(["care"]));
        assert!(h.offer(m).is_none());
        assert_eq!((h.left_out.predicate, h.left_out.tag), (1, 1));
    }
}
