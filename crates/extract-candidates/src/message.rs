//! A chat message as read from any source, and how its fields are found in
//! rows whose field names differ from log to log.

use refinery_core::record::Row;
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
