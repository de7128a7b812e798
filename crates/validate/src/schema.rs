//! The schemas: which fields a row must have and what they may hold. Each
//! check returns every problem with the row, as `field: what is wrong`.

use refinery_core::record::type_name;
use refinery_core::Row;
use serde_json::Value;

/// The schemas `validate` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Schema {
    /// The affect row: text, valence, intimacy, tension, confidence, tags, source, context
    Affect,
    /// A contrastive scenario: prompt, polarity, pair, optional trait and system_prompt
    Scenario,
    /// A scenario with its completion: the scenario fields plus response
    Response,
}

/// What a schema check needs beyond the row.
pub struct Rules {
    pub schema: Schema,
    /// allowed values of `source` (affect)
    pub sources: Vec<String>,
    /// allowed values of `archetype`, when present (affect)
    pub archetypes: Vec<String>,
    /// the most `context` turns allowed (affect)
    pub max_context: usize,
}

/// The problems with one row; empty when it is valid.
pub fn check(row: &Row, rules: &Rules) -> Vec<String> {
    let mut p = Problems::default();
    match rules.schema {
        Schema::Affect => check_affect(row, rules, &mut p),
        Schema::Scenario => check_scenario(row, &mut p),
        Schema::Response => {
            check_scenario(row, &mut p);
            check_response(row, &mut p);
        }
    }
    p.0
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, field: &str, message: impl AsRef<str>) {
        self.0.push(format!("{field}: {}", message.as_ref()));
    }

    /// A required non-empty string.
    fn text(&mut self, row: &Row, field: &str, required: bool) {
        match row.get(field) {
            None if required => self.add(field, "missing (a non-empty string is required)"),
            None => {}
            Some(Value::String(s)) if s.trim().is_empty() => self.add(field, "empty"),
            Some(Value::String(_)) => {}
            Some(v) => self.add(field, format!("expected a string, found {}", type_name(v))),
        }
    }

    /// A required number in `[lo, hi]`.
    fn number_in(&mut self, row: &Row, field: &str, lo: f64, hi: f64) {
        let range = format!("[{lo}, {hi}]");
        match row.get(field) {
            None => self.add(field, format!("missing (a number in {range} is required)")),
            Some(Value::Number(n)) => match n.as_f64().filter(|x| x.is_finite()) {
                None => self.add(field, format!("{n} is not a finite number")),
                Some(x) if x < lo || x > hi => self.add(field, format!("{n} is outside {range}")),
                Some(_) => {}
            },
            Some(Value::String(s)) => {
                let hint = if s.trim().parse::<f64>().is_ok() || s.eq_ignore_ascii_case("nan") {
                    " (a number in quotes: write it without them)"
                } else {
                    ""
                };
                self.add(
                    field,
                    format!("expected a number in {range}, found the string {s:?}{hint}"),
                )
            }
            Some(v) => self.add(
                field,
                format!("expected a number in {range}, found {}", type_name(v)),
            ),
        }
    }

    /// An array of non-empty strings, at most `max` long.
    fn strings(&mut self, row: &Row, field: &str, required: bool, max: Option<usize>) {
        match row.get(field) {
            None if required => self.add(field, "missing (an array of strings is required)"),
            None => {}
            Some(Value::Array(items)) => {
                if let Some(max) = max.filter(|m| items.len() > *m) {
                    self.add(
                        field,
                        format!("{} items, at most {max} allowed", items.len()),
                    );
                }
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) if s.trim().is_empty() => {
                            self.add(&format!("{field}[{i}]"), "empty string")
                        }
                        Value::String(_) => {}
                        v => self.add(
                            &format!("{field}[{i}]"),
                            format!("expected a string, found {}", type_name(v)),
                        ),
                    }
                }
            }
            Some(v) => self.add(
                field,
                format!("expected an array of strings, found {}", type_name(v)),
            ),
        }
    }

    /// A string that must be one of `allowed`.
    fn one_of(&mut self, row: &Row, field: &str, allowed: &[String], required: bool) {
        match row.get(field) {
            None if required => {
                self.add(field, format!("missing (one of: {})", allowed.join(", ")))
            }
            None => {}
            Some(Value::String(s)) if allowed.iter().any(|a| a == s) => {}
            Some(Value::String(s)) => self.add(
                field,
                format!("{s:?} is not one of: {}", allowed.join(", ")),
            ),
            Some(v) => self.add(field, format!("expected a string, found {}", type_name(v))),
        }
    }
}

fn check_affect(row: &Row, rules: &Rules, p: &mut Problems) {
    p.text(row, "text", true);
    for axis in ["valence", "intimacy", "tension"] {
        p.number_in(row, axis, -1.0, 1.0);
    }
    p.number_in(row, "confidence", 0.0, 1.0);
    p.strings(row, "tags", true, None);
    p.one_of(row, "source", &rules.sources, true);
    p.strings(row, "context", false, Some(rules.max_context));
    if !rules.archetypes.is_empty() {
        match row.get("archetype") {
            None | Some(Value::Null) => {}
            _ => p.one_of(row, "archetype", &rules.archetypes, false),
        }
    }
}

fn check_scenario(row: &Row, p: &mut Problems) {
    p.text(row, "prompt", true);
    let polarities = ["positive".to_string(), "negative".to_string()];
    p.one_of(row, "polarity", &polarities, true);
    match row.get("pair") {
        None => p.add("pair", "missing (a whole number >= 0 is required)"),
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        Some(v) => p.add("pair", format!("expected a whole number >= 0, found {v}")),
    }
    p.text(row, "trait", false);
    match row.get("system_prompt") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(v) => p.add(
            "system_prompt",
            format!("expected a string, found {}", type_name(v)),
        ),
    }
}

fn check_response(row: &Row, p: &mut Problems) {
    match row.get("response") {
        None => p.add(
            "response",
            "missing (the completion, a string, is required)",
        ),
        Some(Value::String(_)) => {}
        Some(v) => p.add(
            "response",
            format!("expected a string, found {}", type_name(v)),
        ),
    }
    if let Some(ids) = row.get("response_token_ids") {
        let ok = ids
            .as_array()
            .is_some_and(|a| a.iter().all(|v| v.as_u64().is_some()));
        if !ok {
            p.add(
                "response_token_ids",
                "expected an array of whole numbers >= 0",
            );
        }
    }
}

/// The text whose duplicates a schema looks for: the affect text, or a
/// scenario's prompt with its polarity (a prompt may appear once per side).
pub fn duplicate_text(row: &Row, schema: Schema) -> Option<String> {
    match schema {
        Schema::Affect => row.get("text")?.as_str().map(str::to_string),
        Schema::Scenario => {
            let prompt = row.get("prompt")?.as_str()?;
            let polarity = row.get("polarity").and_then(Value::as_str).unwrap_or("");
            Some(format!("{polarity}\u{0}{prompt}"))
        }
        // Rollouts of one scenario share a prompt, and may share a response.
        Schema::Response => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use refinery_core::record::parse_row;

    fn rules() -> Rules {
        Rules {
            schema: Schema::Affect,
            sources: vec![
                "manual_chat".into(),
                "goemotions".into(),
                "synthetic_probe".into(),
            ],
            archetypes: vec!["flat_numb".into()],
            max_context: 2,
        }
    }

    fn problems(line: &str) -> Vec<String> {
        check(&parse_row(line.as_bytes()).unwrap(), &rules())
    }

    const GOOD: &str = r#"{"text":"hi","valence":0.4,"intimacy":-0.2,"tension":0.7,"confidence":0.6,"tags":["a"],"source":"manual_chat","context":["x","hi"],"extra":1}"#;

    #[test]
    fn a_seed_row_is_valid() {
        assert!(problems(GOOD).is_empty(), "{:?}", problems(GOOD));
    }

    #[test]
    fn each_problem_gets_its_own_message() {
        let cases = [
            (
                r#""valence":0.4,"#,
                "",
                "valence: missing (a number in [-1, 1] is required)",
            ),
            (
                r#""valence":0.4"#,
                r#""valence":"0.4""#,
                r#"valence: expected a number in [-1, 1], found the string "0.4" (a number in quotes: write it without them)"#,
            ),
            (
                r#""valence":0.4"#,
                r#""valence":"NaN""#,
                r#"valence: expected a number in [-1, 1], found the string "NaN" (a number in quotes: write it without them)"#,
            ),
            (
                r#""valence":0.4"#,
                r#""valence":1.5"#,
                "valence: 1.5 is outside [-1, 1]",
            ),
            (
                r#""confidence":0.6"#,
                r#""confidence":-0.1"#,
                "confidence: -0.1 is outside [0, 1]",
            ),
            (
                r#""valence":0.4"#,
                r#""valence":1e400"#,
                "valence: 1e+400 is not a finite number",
            ),
            (
                r#""tags":["a"]"#,
                r#""tags":["a",""]"#,
                "tags[1]: empty string",
            ),
            (
                r#""tags":["a"]"#,
                r#""tags":"a""#,
                "tags: expected an array of strings, found a string",
            ),
            (r#""text":"hi""#, r#""text":"  ""#, "text: empty"),
            (
                r#""source":"manual_chat""#,
                r#""source":"reddit""#,
                r#"source: "reddit" is not one of: manual_chat, goemotions, synthetic_probe"#,
            ),
            (
                r#""context":["x","hi"]"#,
                r#""context":["a","b","c"]"#,
                "context: 3 items, at most 2 allowed",
            ),
            (
                r#""extra":1"#,
                r#""archetype":"sad""#,
                r#"archetype: "sad" is not one of: flat_numb"#,
            ),
        ];
        for (from, to, expected) in cases {
            assert!(GOOD.contains(from), "{from}");
            let line = GOOD
                .replacen(from, to, 1)
                .replace(",}", "}")
                .replace("{,", "{");
            assert_eq!(problems(&line), [expected], "{line}");
        }
    }

    #[test]
    fn scenario_and_response_rows() {
        let r = Rules {
            schema: Schema::Response,
            ..rules()
        };
        let row =
            parse_row(br#"{"prompt":"He said","polarity":"positive","pair":0,"response":" no"}"#)
                .unwrap();
        assert!(check(&row, &r).is_empty());
        let row = parse_row(br#"{"prompt":"","polarity":"up","pair":-1}"#).unwrap();
        assert_eq!(
            check(&row, &r),
            [
                "prompt: empty",
                "polarity: \"up\" is not one of: positive, negative",
                "pair: expected a whole number >= 0, found -1",
                "response: missing (the completion, a string, is required)"
            ]
        );
    }
}
