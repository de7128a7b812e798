//! A chat message as read from any source, and how its fields are found in
//! rows whose field names differ from log to log.

use refinery_core::record::{type_name, Row};
use refinery_core::Location;
use serde_json::Value;

/// One message of a conversation.
#[derive(Clone, Debug)]
pub struct Message {
    pub location: Location,
    pub text: String,
    pub session: Option<String>,
    pub role: Option<String>,
    pub id: Option<Value>,
    pub timestamp: Option<Value>,
    /// the message's place in a one-conversation-per-line row (OpenAI shape)
    pub turn: Option<usize>,
    /// predictions the source carries: `valence`, `intimacy`, `tension`,
    /// `tags`, `emotions` (written out as `pred_*` and `emotions`)
    pub predictions: Row,
}

/// The prediction fields a message may carry, and the names they get on a
/// candidate: predicted axes must never pass for labels.
pub const PREDICTION_FIELDS: [(&str, &str); 5] = [
    ("valence", "pred_valence"),
    ("intimacy", "pred_intimacy"),
    ("tension", "pred_tension"),
    ("tags", "pred_tags"),
    ("emotions", "emotions"),
];

/// Where to look for each field: the first name present wins.
#[derive(Clone, Debug)]
pub struct FieldNames {
    pub text: Vec<String>,
    pub session: Vec<String>,
    pub role: Vec<String>,
    pub time: Vec<String>,
    pub id: Vec<String>,
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            text: names(&["text", "content", "message"]),
            session: names(&["session_id", "conversation_id", "session"]),
            role: names(&["role", "speaker", "sender"]),
            time: names(&["timestamp", "time", "ts", "created_at"]),
            id: names(&["id", "message_id"]),
        }
    }
}

fn first<'a>(row: &'a Row, names: &[String]) -> Option<(&'a str, &'a Value)> {
    names
        .iter()
        .find_map(|n| row.get_key_value(n.as_str()))
        .map(|(k, v)| (k.as_str(), v))
        .filter(|(_, v)| !v.is_null())
}

/// A scalar as a string key (`"s1"` and `1` both name a session).
fn scalar(field: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!(
            "{field}: expected a string or number, found {}",
            type_name(other)
        )),
    }
}

impl FieldNames {
    /// Reads a message from a row; the error says which field is wrong.
    pub fn message(&self, row: &Row, location: Location) -> Result<Message, String> {
        let text = match first(row, &self.text) {
            Some((_, Value::String(s))) => s.clone(),
            Some((k, v)) => return Err(format!("{k}: expected a string, found {}", type_name(v))),
            None => {
                return Err(format!(
                    "no text field (looked for {})",
                    self.text.join(", ")
                ))
            }
        };
        let session = first(row, &self.session)
            .map(|(k, v)| scalar(k, v))
            .transpose()?;
        let role = first(row, &self.role)
            .map(|(k, v)| scalar(k, v))
            .transpose()?;
        let mut predictions = Row::new();
        for (field, _) in PREDICTION_FIELDS {
            if let Some(v) = row.get(field).filter(|v| !v.is_null()) {
                predictions.insert(field.to_string(), v.clone());
            }
        }
        Ok(Message {
            location,
            text,
            session,
            role,
            id: first(row, &self.id).map(|(_, v)| v.clone()),
            timestamp: first(row, &self.time).map(|(_, v)| v.clone()),
            turn: None,
            predictions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use refinery_core::record::parse_row;

    fn loc() -> Location {
        Location {
            source: "t".into(),
            line: 1,
        }
    }

    #[test]
    fn common_shapes_are_found_by_default() {
        let f = FieldNames::default();
        let m = f
            .message(&parse_row(br#"{"content":"hi","conversation_id":7,"speaker":"user","ts":5,"message_id":"m1","tension":0.8}"#).unwrap(), loc())
            .unwrap();
        assert_eq!(m.text, "hi");
        assert_eq!(m.session.as_deref(), Some("7"));
        assert_eq!(m.role.as_deref(), Some("user"));
        assert_eq!(m.timestamp, Some(Value::from(5)));
        assert_eq!(m.id, Some(Value::from("m1")));
        assert_eq!(m.predictions["tension"], 0.8);
    }

    #[test]
    fn wrong_fields_are_named() {
        let f = FieldNames::default();
        let e = f
            .message(&parse_row(br#"{"body":"hi"}"#).unwrap(), loc())
            .unwrap_err();
        assert_eq!(e, "no text field (looked for text, content, message)");
        let e = f
            .message(&parse_row(br#"{"text":5}"#).unwrap(), loc())
            .unwrap_err();
        assert_eq!(e, "text: expected a string, found a number");
        let e = f
            .message(
                &parse_row(br#"{"text":"x","session_id":[1]}"#).unwrap(),
                loc(),
            )
            .unwrap_err();
        assert_eq!(e, "session_id: expected a string or number, found an array");
    }
}
