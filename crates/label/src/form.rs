//! The answer form for one candidate: six fields, the keys that edit them,
//! and the checks that refuse a bad value on the spot. No terminal here, so
//! the state machine is tested with plain key sequences.

use serde_json::Value;

use refinery_core::Row;

/// A key, as the form understands it (the terminal layer maps real keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Backspace,
    /// step the number down by 0.1
    Left,
    /// step the number up by 0.1
    Right,
    /// previous field
    Up,
    /// next field
    Down,
    /// complete the archetype or tag being typed
    Tab,
    /// accept the field; on the last field, save the answer
    Enter,
    /// save the answer from any field
    Save,
    /// leave this candidate unlabelled and go on
    Skip,
    /// take back the last saved answer
    Undo,
    Quit,
}

/// The fields a rater fills, in the order the form visits them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Valence,
    Intimacy,
    Tension,
    Confidence,
    Archetype,
    Tags,
}

pub const FIELDS: [Field; 6] = [
    Field::Valence,
    Field::Intimacy,
    Field::Tension,
    Field::Confidence,
    Field::Archetype,
    Field::Tags,
];

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::Valence => "valence",
            Field::Intimacy => "intimacy",
            Field::Tension => "tension",
            Field::Confidence => "confidence",
            Field::Archetype => "archetype",
            Field::Tags => "tags",
        }
    }

    /// The allowed range of a numeric field.
    pub fn range(self) -> Option<(f64, f64)> {
        match self {
            Field::Valence | Field::Intimacy | Field::Tension => Some((-1.0, 1.0)),
            Field::Confidence => Some((0.0, 1.0)),
            Field::Archetype | Field::Tags => None,
        }
    }
}

/// A rater's answer for one candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// valence, intimacy, tension, confidence
    pub numbers: [f64; 4],
    pub archetype: Option<String>,
    pub tags: Vec<String>,
}

/// Reads a typed number for a numeric field, refusing what is not allowed.
pub fn parse_number(field: Field, typed: &str) -> Result<f64, String> {
    let (lo, hi) = field.range().expect("numeric field");
    let value: f64 = typed
        .trim()
        .parse()
        .map_err(|_| format!("{}: {typed:?} is not a number", field.name()))?;
    if !value.is_finite() || value < lo || value > hi {
        return Err(format!("{}: {typed} is outside [{lo}, {hi}]", field.name()));
    }
    Ok(round3(value))
}

/// Checks an archetype name against the mapping file's list; empty means none.
pub fn parse_archetype(typed: &str, names: &[String]) -> Result<Option<String>, String> {
    let typed = typed.trim();
    if typed.is_empty() || typed == "-" {
        return Ok(None);
    }
    if names.iter().any(|n| n == typed) {
        return Ok(Some(typed.to_string()));
    }
    Err(format!(
        "archetype: unknown {typed:?}; one of: {}",
        names.join(", ")
    ))
}

/// Reads comma-separated tags: lower-case words of letters, digits, `_`, `-`.
pub fn parse_tags(typed: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in typed.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let fine = tag
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !fine {
            return Err(format!(
                "tags: {tag:?} is not a tag (lower-case letters, digits, _ and -)"
            ));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    Ok(tags)
}

fn round3(x: f64) -> f64 {
    let r = (x * 1000.0).round() / 1000.0;
    if r == 0.0 {
        0.0 // never write -0
    } else {
        r
    }
}

/// What a key asks of the session around the form.
#[derive(Debug, PartialEq)]
pub enum Request {
    Nothing,
    Save(Answer),
    Skip,
    Undo,
    Quit,
}

/// The form's state: the values so far, the field in focus, what is typed.
#[derive(Clone, Debug)]
pub struct Form {
    pub answer: Answer,
    /// Which of valence, intimacy, tension and confidence hold a value the
    /// rater gave (or, with suggestions shown, saw pre-filled): an answer is
    /// saved only when all four do.
    pub given: [bool; 4],
    pub focus: usize,
    pub typed: String,
    /// the last refusal or hint, shown under the form
    pub message: Option<String>,
    names: Vec<String>,
}

impl Form {
    /// A fresh form. Blind (the default): every field empty, so nothing a
    /// model predicted can anchor the rater. With `suggestions`, the axes
    /// start from the candidate's predicted or prior values and the
    /// archetype from its suggested one; confidence is always the rater's.
    pub fn for_candidate(row: &Row, names: &[String], suggestions: bool) -> Form {
        let mut form = Form::with_answer(
            Answer {
                numbers: [0.0; 4],
                archetype: None,
                tags: Vec::new(),
            },
            names,
        );
        form.given = [false; 4];
        if !suggestions {
            return form;
        }
        for (i, axis) in ["valence", "intimacy", "tension"].iter().enumerate() {
            if let Some(x) = suggestion(row, axis) {
                form.answer.numbers[i] = round3(x.clamp(-1.0, 1.0));
                form.given[i] = true;
            }
        }
        form.answer.archetype = row
            .get("archetype")
            .and_then(Value::as_str)
            .filter(|a| names.iter().any(|n| n == a))
            .map(str::to_string);
        form
    }

    /// A form holding a given answer (an undone one, to be corrected).
    pub fn with_answer(answer: Answer, names: &[String]) -> Form {
        Form {
            answer,
            given: [true; 4],
            focus: 0,
            typed: String::new(),
            message: None,
            names: names.to_vec(),
        }
    }

    /// The answer, or a message naming the fields still empty.
    fn complete_answer(&mut self) -> Option<Answer> {
        let missing: Vec<&str> = FIELDS[..4]
            .iter()
            .zip(self.given)
            .filter(|(_, given)| !given)
            .map(|(f, _)| f.name())
            .collect();
        if missing.is_empty() {
            return Some(self.answer.clone());
        }
        self.message = Some(format!(
            "not saved: give {} first (type a value, or ←/→); Ctrl-N skips this candidate",
            missing.join(", ")
        ));
        None
    }

    pub fn field(&self) -> Field {
        FIELDS[self.focus]
    }

    pub fn press(&mut self, key: Key) -> Request {
        self.message = None;
        match key {
            Key::Char(c) => self.typed.push(c),
            Key::Backspace => {
                self.typed.pop();
            }
            Key::Left => self.step(-0.1),
            Key::Right => self.step(0.1),
            Key::Up => {
                if self.accept_typed() && self.focus > 0 {
                    self.focus -= 1;
                }
            }
            Key::Down => {
                if self.accept_typed() && self.focus + 1 < FIELDS.len() {
                    self.focus += 1;
                }
            }
            Key::Tab => self.complete(),
            Key::Enter => {
                if self.accept_typed() {
                    if self.focus + 1 == FIELDS.len() {
                        return self
                            .complete_answer()
                            .map_or(Request::Nothing, Request::Save);
                    }
                    self.focus += 1;
                }
            }
            Key::Save => {
                if self.accept_typed() {
                    return self
                        .complete_answer()
                        .map_or(Request::Nothing, Request::Save);
                }
            }
            Key::Skip => return Request::Skip,
            Key::Undo => return Request::Undo,
            Key::Quit => return Request::Quit,
        }
        Request::Nothing
    }

    fn step(&mut self, delta: f64) {
        let field = self.field();
        let Some((lo, hi)) = field.range() else {
            self.message = Some("←/→ step numbers; type the archetype or tags".into());
            return;
        };
        if !self.accept_typed() {
            return;
        }
        let value = &mut self.answer.numbers[self.focus];
        // The first step on an empty field puts it at the middle of its range.
        *value = if self.given[self.focus] {
            round3((*value + delta).clamp(lo, hi))
        } else {
            round3((lo + hi) / 2.0)
        };
        self.given[self.focus] = true;
    }

    /// Moves what was typed into the answer; false (with a message) if refused.
    fn accept_typed(&mut self) -> bool {
        if self.typed.trim().is_empty() && self.field() != Field::Tags {
            self.typed.clear();
            return true;
        }
        let field = self.field();
        let result = match field {
            Field::Archetype => parse_archetype(&self.typed, &self.names).map(|a| {
                self.answer.archetype = a;
            }),
            Field::Tags => parse_tags(&self.typed).map(|tags| {
                if !self.typed.trim().is_empty() {
                    self.answer.tags = tags;
                }
            }),
            numeric => parse_number(numeric, &self.typed).map(|x| {
                self.answer.numbers[self.focus] = x;
                self.given[self.focus] = true;
            }),
        };
        match result {
            Ok(()) => {
                self.typed.clear();
                true
            }
            Err(message) => {
                self.message = Some(format!("refused: {message}"));
                false
            }
        }
    }

    /// Completes the last word typed against the archetype names.
    fn complete(&mut self) {
        if !matches!(self.field(), Field::Archetype | Field::Tags) {
            return;
        }
        let cut = self.typed.rfind(',').map_or(0, |i| i + 1);
        let word = self.typed[cut..].trim_start().to_string();
        let matches: Vec<&String> = self.names.iter().filter(|n| n.starts_with(&word)).collect();
        let Some(first) = matches.first() else {
            self.message = Some(format!("no archetype starts with {word:?}"));
            return;
        };
        let common = matches.iter().fold(first.to_string(), |acc, n| {
            acc.chars()
                .zip(n.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect()
        });
        let keep = self.typed[..cut].to_string();
        self.typed = if cut > 0 {
            format!("{keep} {common}")
        } else {
            common
        };
        if matches.len() > 1 {
            let names: Vec<&str> = matches.iter().map(|n| n.as_str()).collect();
            self.message = Some(format!("one of: {}", names.join(", ")));
        }
    }
}

/// A predicted or prior value for an axis, shown as a starting point.
pub fn suggestion(row: &Row, axis: &str) -> Option<f64> {
    row.get(axis)
        .and_then(Value::as_f64)
        .or_else(|| row.get(&format!("pred_{axis}")).and_then(Value::as_f64))
        .or_else(|| {
            row.get("prior")
                .and_then(|p| p.get(axis))
                .and_then(Value::as_f64)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["hostile_intimacy", "flat_numb", "fearful_urgent"]
            .map(String::from)
            .to_vec()
    }

    fn form() -> Form {
        Form::for_candidate(&Row::new(), &names(), false)
    }

    fn typed(form: &mut Form, text: &str) {
        for c in text.chars() {
            form.press(Key::Char(c));
        }
    }

    #[test]
    fn arrows_step_by_a_tenth_and_stop_at_the_range() {
        let mut f = form();
        for _ in 0..4 {
            f.press(Key::Right);
        }
        assert_eq!(f.answer.numbers[0], 0.3);
        for _ in 0..20 {
            f.press(Key::Left);
        }
        assert_eq!(f.answer.numbers[0], -1.0);
    }

    #[test]
    fn an_out_of_range_value_is_refused_and_kept_out_of_the_answer() {
        let mut f = form();
        typed(&mut f, "1.4");
        assert_eq!(f.press(Key::Enter), Request::Nothing);
        assert_eq!(f.focus, 0);
        assert!(f.message.as_deref().unwrap().contains("outside [-1, 1]"));
        assert_eq!(f.answer.numbers[0], 0.0);
        f.typed.clear();
        typed(&mut f, "-0.45");
        f.press(Key::Enter);
        assert_eq!((f.focus, f.answer.numbers[0]), (1, -0.45));
    }

    #[test]
    fn an_unknown_archetype_is_refused_and_tab_completes() {
        let mut f = form();
        f.focus = 4;
        typed(&mut f, "cautious");
        f.press(Key::Enter);
        assert!(f
            .message
            .as_deref()
            .unwrap()
            .starts_with("refused: archetype"));
        f.typed.clear();
        typed(&mut f, "fl");
        f.press(Key::Tab);
        assert_eq!(f.typed, "flat_numb");
        f.press(Key::Enter);
        assert_eq!(f.answer.archetype.as_deref(), Some("flat_numb"));
    }

    #[test]
    fn enter_on_the_last_field_saves() {
        let mut f = form();
        f.given = [true; 4];
        f.focus = 5;
        typed(&mut f, "teasing, teasing,Bad Tag");
        assert_eq!(f.press(Key::Enter), Request::Nothing);
        f.typed = "teasing, sarcasm".into();
        match f.press(Key::Enter) {
            Request::Save(a) => assert_eq!(a.tags, ["teasing", "sarcasm"]),
            other => panic!("{other:?}"),
        }
    }

    fn suggested_row() -> Row {
        serde_json::from_str(
            r#"{"pred_valence": -0.62, "prior": {"tension": 0.7}, "archetype": "flat_numb"}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_form_starts_empty_without_suggestions() {
        let mut f = Form::for_candidate(&suggested_row(), &names(), false);
        assert_eq!(f.given, [false; 4]);
        assert_eq!(f.answer.archetype, None);
        // Ctrl-S on a fresh form saves nothing and says what is missing.
        assert_eq!(f.press(Key::Save), Request::Nothing);
        let message = f.message.clone().unwrap();
        assert!(
            message.contains("valence, intimacy, tension, confidence"),
            "{message}"
        );
    }

    #[test]
    fn suggestions_start_the_form_when_shown_but_not_the_confidence() {
        let mut f = Form::for_candidate(&suggested_row(), &names(), true);
        assert_eq!(f.answer.numbers[..3], [-0.62, 0.0, 0.7]);
        assert_eq!(f.given, [true, false, true, false]);
        assert_eq!(f.answer.archetype.as_deref(), Some("flat_numb"));
        assert_eq!(f.press(Key::Save), Request::Nothing);
        assert!(f
            .message
            .clone()
            .unwrap()
            .contains("give intimacy, confidence"));
    }

    #[test]
    fn a_full_answer_saves() {
        let mut f = form();
        for value in ["-0.4", "0.3", "0.5", "0.9"] {
            typed(&mut f, value);
            f.press(Key::Enter);
        }
        match f.press(Key::Save) {
            Request::Save(a) => assert_eq!(a.numbers, [-0.4, 0.3, 0.5, 0.9]),
            other => panic!("{other:?}"),
        }
    }
}
