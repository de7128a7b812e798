//! From a model's reply to the user's words: instruct models wrap the
//! message they were asked for in labels, quotes and commentary, and a reply
//! cut at the token limit ends mid-sentence. What is kept is the first
//! message, as the user would have typed it; replies that are refusals or
//! talk about the task are told apart so they can be counted, not kept.

/// What a reply yields.
#[derive(Debug, PartialEq, Eq)]
pub enum Utterance {
    Text(String),
    /// nothing left after cleaning
    Empty,
    /// the model declined or spoke as an assistant
    Refusal,
}

const LABELS: [&str; 8] = [
    "user", "me", "message", "text", "you", "person", "reply", "them",
];

const REFUSALS: [&str; 8] = [
    "i'm sorry, but",
    "i am sorry, but",
    "i can't help",
    "i cannot help",
    "as an ai",
    "i'm not able to",
    "here is a message",
    "here's a message",
];

/// Cleans a reply; `cut` says the reply stopped at the token limit.
pub fn utterance(reply: &str, cut: bool) -> Utterance {
    let lower = reply.trim_start().to_lowercase();
    if REFUSALS
        .iter()
        .any(|r| lower.starts_with(r) || lower.contains(&format!("\n{r}")))
        && !lower.contains('"')
    {
        return Utterance::Refusal;
    }
    let mut text = first_paragraph(without_label(reply.trim()));
    if let Some(quoted) = quoted(&text) {
        text = quoted;
    } else if cut {
        text = to_last_sentence_end(&text);
    }
    let text = text
        .trim()
        .trim_matches(|c| matches!(c, '*' | '_'))
        .trim()
        .to_string();
    if text.is_empty() {
        Utterance::Empty
    } else if REFUSALS.iter().any(|r| text.to_lowercase().starts_with(r)) {
        Utterance::Refusal
    } else {
        Utterance::Text(text)
    }
}

/// Drops a leading speaker label such as `User:` or `**Message:**`.
fn without_label(text: &str) -> &str {
    let head = text.trim_start_matches(['*', '#', ' ']);
    if let Some(colon) = head.find(':') {
        let label = head[..colon].trim().trim_matches('*').trim().to_lowercase();
        if LABELS.contains(&label.as_str()) {
            return head[colon + 1..].trim_start_matches('*').trim_start();
        }
    }
    text
}

/// The first paragraph, its line breaks joined with spaces.
fn first_paragraph(text: &str) -> String {
    let para = text
        .split("\n\n")
        .find(|p| !p.trim().is_empty())
        .unwrap_or("");
    para.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text inside quotes when the whole message is quoted.
fn quoted(text: &str) -> Option<String> {
    let (open, close) = match text.chars().next()? {
        '"' => ('"', '"'),
        '“' => ('“', '”'),
        _ => return None,
    };
    let inner = &text[open.len_utf8()..];
    let end = inner.find(close)?;
    Some(inner[..end].to_string())
}

/// Cuts a reply that stopped mid-sentence back to its last full sentence,
/// when it has one.
fn to_last_sentence_end(text: &str) -> String {
    match text.rfind(['.', '!', '?', '…']) {
        Some(end) => {
            let end = end + text[end..].chars().next().map_or(1, char::len_utf8);
            text[..end].to_string()
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn labels_quotes_and_commentary_go() {
        assert_eq!(
            utterance(
                "User: \"You never listen to me, do you?\"\n\nThis message shows frustration.",
                false
            ),
            Utterance::Text(text("You never listen to me, do you?"))
        );
        assert_eq!(
            utterance("**Message:** honestly i don't feel anything anymore", false),
            Utterance::Text(text("honestly i don't feel anything anymore"))
        );
        assert_eq!(
            utterance("“Stop. Just stop texting me.” she wrote", false),
            Utterance::Text(text("Stop. Just stop texting me."))
        );
    }

    #[test]
    fn a_cut_reply_ends_at_its_last_full_sentence() {
        assert_eq!(
            utterance(
                "I can't find my keys and someone is outside. Please pick up, I'm",
                true
            ),
            Utterance::Text(text("I can't find my keys and someone is outside."))
        );
        assert_eq!(
            utterance("no sentence end at all", true),
            Utterance::Text(text("no sentence end at all"))
        );
    }

    #[test]
    fn refusals_and_empty_replies_are_told_apart() {
        assert_eq!(
            utterance("I'm sorry, but I can't write that.", false),
            Utterance::Refusal
        );
        assert_eq!(utterance("  \n\n ", false), Utterance::Empty);
        assert_eq!(utterance("User: \"\"", false), Utterance::Empty);
    }
}
