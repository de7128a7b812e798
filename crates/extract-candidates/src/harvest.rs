//! Turning prepared messages into candidates, in input order: the
//! conversation context, the selection, and duplicate removal.

use std::collections::VecDeque;

use refinery_core::expr::Predicate;
use refinery_core::record::parse_row;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::prepared::Prepared;

/// The parts of the selection decided here (roles and tags are decided
/// when a message is prepared).
pub struct Selection {
    pub predicate: Option<Predicate>,
    pub min_chars: usize,
    pub max_chars: usize,
    pub dedup: bool,
    /// turns of context, ending at the message itself (0: none)
    pub context: usize,
}

/// Why messages were left out, for the stderr report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    pub role: u64,
    pub tag: u64,
    pub length: u64,
    pub predicate: u64,
    pub duplicate: u64,
    /// OpenAI-shaped turns with no text (a tool call's `"content": null`).
    pub no_text: u64,
    /// Non-text parts of list-of-parts contents (not messages: not in `total`).
    pub non_text_parts: u64,
}

impl LeftOut {
    pub fn add(&mut self, other: &LeftOut) {
        self.role += other.role;
        self.tag += other.tag;
        self.length += other.length;
        self.predicate += other.predicate;
        self.duplicate += other.duplicate;
        self.no_text += other.no_text;
        self.non_text_parts += other.non_text_parts;
    }

    pub fn total(&self) -> u64 {
        self.role + self.tag + self.length + self.predicate + self.duplicate + self.no_text
    }

    pub fn describe(&self) -> String {
        let parts = [
            (self.role, "by --role"),
            (self.tag, "by --tag"),
            (self.length, "by length"),
            (self.predicate, "by --where"),
            (self.duplicate, "as duplicate texts"),
            (
                self.no_text,
                "turns without text (tool calls, null content)",
            ),
        ];
        let listed: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, why)| format!("{n} {why}"))
            .collect();
        let mut text = listed.join(", ");
        if self.non_text_parts > 0 {
            text.push_str(&format!(
                "; {} non-text content parts skipped",
                self.non_text_parts
            ));
        }
        text
    }
}

pub struct Harvester {
    selection: Selection,
    history: FxHashMap<u128, VecDeque<Vec<u8>>>,
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

    /// Records the message in its conversation and, if the selection keeps
    /// it, writes its candidate row (one JSON line, no newline) into `out`.
    pub fn offer(&mut self, p: &Prepared, arena: &[u8], out: &mut Vec<u8>) -> bool {
        self.remember(p, arena);
        let sel = &self.selection;
        let why = if !p.role_ok {
            &mut self.left_out.role
        } else if !p.tag_ok {
            &mut self.left_out.tag
        } else if p.chars < sel.min_chars || p.chars > sel.max_chars {
            &mut self.left_out.length
        } else {
            let start = out.len();
            self.write_candidate(p, arena, out);
            let kept_by_predicate = sel
                .predicate
                .as_ref()
                .is_none_or(|pred| parse_row(&out[start..]).is_ok_and(|row| pred.matches(&row)));
            if !kept_by_predicate {
                out.truncate(start);
                self.left_out.predicate += 1;
                return false;
            }
            if sel.dedup && !self.seen.insert(p.key) {
                out.truncate(start);
                self.left_out.duplicate += 1;
                return false;
            }
            return true;
        };
        *why += 1;
        false
    }

    fn remember(&mut self, p: &Prepared, arena: &[u8]) {
        let n = self.selection.context;
        if n == 0 {
            return;
        }
        let turns = self.history.entry(p.conversation).or_default();
        // The oldest turn's buffer holds the newest: no allocation once a
        // conversation has n turns.
        let mut buffer = match turns.len() >= n {
            true => turns.pop_front().unwrap_or_default(),
            false => Vec::new(),
        };
        buffer.clear();
        buffer.extend_from_slice(p.text_json(arena));
        turns.push_back(buffer);
    }

    fn write_candidate(&self, p: &Prepared, arena: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"text\":");
        out.extend_from_slice(p.text_json(arena));
        if self.selection.context > 0 {
            out.extend_from_slice(b",\"context\":[");
            if let Some(turns) = self.history.get(&p.conversation) {
                for (i, t) in turns.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(t);
                }
            }
            out.push(b']');
        }
        out.extend_from_slice(p.rest(arena));
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::FieldNames;
    use crate::prepared::{Prep, TurnsWithoutText};
    use refinery_core::Location;

    fn lines(prep: &Prep, sel: Selection, input: &[&str]) -> (Vec<String>, LeftOut) {
        let mut h = Harvester::new(sel);
        let mut out = Vec::new();
        for (i, l) in input.iter().enumerate() {
            let loc = Location {
                source: "chat.jsonl".into(),
                line: i as u64 + 1,
            };
            let mut arena = Vec::new();
            let p = prep.chat_line(l.as_bytes(), &loc, &mut arena).unwrap();
            let mut line = Vec::new();
            if h.offer(&p, &arena, &mut line) {
                out.push(String::from_utf8(line).unwrap());
            }
        }
        (out, h.left_out)
    }

    fn selection() -> Selection {
        Selection {
            predicate: None,
            min_chars: 1,
            max_chars: 1000,
            dedup: true,
            context: 2,
        }
    }

    #[test]
    fn context_follows_each_session_through_interleaving() {
        let names = FieldNames::default();
        let roles = vec!["user".to_string()];
        let prep = Prep::new(&names, &roles, &[], None, "manual_chat");
        let (out, left) = lines(
            &prep,
            selection(),
            &[
                r#"{"session_id":"a","role":"assistant","text":"hello a"}"#,
                r#"{"session_id":"b","role":"assistant","text":"hello b"}"#,
                r#"{"session_id":"a","role":"user","text":"reply a"}"#,
                r#"{"session_id":"b","role":"user","text":"reply b","valence":-0.5}"#,
            ],
        );
        assert_eq!(
            out,
            [
                r#"{"text":"reply a","context":["hello a","reply a"],"source":"manual_chat","session_id":"a","file":"chat.jsonl","line":3,"role":"user"}"#,
                r#"{"text":"reply b","context":["hello b","reply b"],"source":"manual_chat","session_id":"b","file":"chat.jsonl","line":4,"role":"user","pred_valence":-0.5}"#,
            ]
        );
        assert_eq!(left.role, 2);
    }

    #[test]
    fn duplicates_lengths_tags_and_predicates_are_counted() {
        let names = FieldNames::default();
        let tags = vec!["tension".to_string()];
        let prep = Prep::new(&names, &[], &tags, None, "manual_chat");
        let sel = Selection {
            min_chars: 3,
            predicate: Some(Predicate::parse("pred_valence <= -0.2").unwrap()),
            ..selection()
        };
        let (out, left) = lines(
            &prep,
            sel,
            &[
                r#"{"text":"Same text","tags":["tension"],"valence":-0.5}"#,
                r#"{"text":"  same   TEXT ","tags":["tension"],"valence":-0.5}"#,
                r#"{"text":"no","tags":["tension"],"valence":-0.5}"#,
                r#"{"text":"calm","tags":["care"],"valence":-0.5}"#,
                r#"{"text":"happy","tags":["tension"],"valence":0.5}"#,
            ],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            left,
            LeftOut {
                duplicate: 1,
                length: 1,
                tag: 1,
                predicate: 1,
                ..LeftOut::default()
            }
        );
        assert_eq!(
            left.describe(),
            "1 by --tag, 1 by length, 1 by --where, 1 as duplicate texts"
        );
    }

    #[test]
    fn raw_values_pass_through_as_written_and_bad_fields_are_named() {
        let names = FieldNames::default();
        let prep = Prep::new(&names, &[], &[], None, "manual_chat");
        let loc = Location {
            source: "c".into(),
            line: 1,
        };
        let mut arena = Vec::new();
        let p = &prep.chat_line(br#"{"content":"hi","conversation_id":7,"ts":1e5,"message_id":"m1","tension":0.80}"#, &loc, &mut arena).unwrap();
        let mut h = Harvester::new(Selection {
            context: 0,
            ..selection()
        });
        let mut out = Vec::new();
        assert!(h.offer(p, &arena, &mut out));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"text":"hi","source":"manual_chat","session_id":"7","file":"c","line":1,"id":"m1","timestamp":1e5,"pred_tension":0.80}"#
        );
        let err = |l: &str| {
            prep.chat_line(l.as_bytes(), &loc, &mut Vec::new())
                .err()
                .unwrap()
        };
        assert_eq!(
            err(r#"{"body":"hi"}"#),
            "no text field (looked for text, content, message)"
        );
        assert_eq!(
            err(r#"{"messages":[{"role":"user","content":"hi"}]}"#),
            "no text field (looked for text, content, message); the line has a `messages` list: \
             an OpenAI conversation? add --format openai"
        );
        assert_eq!(
            err(r#"{"text":5}"#),
            "text: expected a string, found a number"
        );
        assert_eq!(
            err(r#"{"text":"x","session_id":[1]}"#),
            "session_id: expected a string or number, found an array"
        );
        assert_eq!(
            prep.openai_line(
                br#"{"messages":[{"role":"user","content":7}]}"#,
                &loc,
                &mut Vec::new()
            )
            .err()
            .unwrap(),
            "messages[0]: content: expected a string, found a number"
        );
        let (messages, without) = prep
            .openai_line(
                br#"{"messages":[{"role":"user"},{"role":"assistant","content":null,"tool_calls":[]},{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"at this"}]}]}"#,
                &loc,
                &mut Vec::new(),
            )
            .unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].chars, "look\nat this".len());
        assert_eq!(without, TurnsWithoutText { turns: 2, parts: 1 });
    }
}
