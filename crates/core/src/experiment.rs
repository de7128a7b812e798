//! trait-interp's experiment layout, read and written exactly:
//!
//! ```text
//! responses/pos.json, responses/neg.json     [{"prompt", "response", "system_prompt"}, …]
//! vetting/scenario_scores.json               the vetting summary of the scenarios
//! vetting/response_scores.json               the vetting summary of the responses
//! ```
//!
//! A responses file holds one entry per scenario and rollout, rollout-major
//! (every scenario's first rollout, then every scenario's second…), as
//! trait-interp's generation writes them. Its extraction drops the entries
//! whose position is in the vetting summary's `failed_indices`, so an `idx`
//! is always a position in the responses file (or scenario file) next to it.
//! Files are written as Python's `json.dump(…, indent=2)` writes them
//! (non-ASCII escaped as `\uXXXX`): a responses file refinery reads and
//! writes back comes out byte-identical.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::fmt::Write;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::trait_files::ScenarioLine;
use crate::{Error, Location, Result};

/// The two responses files of a directory: `DIR/pos.json` and
/// `DIR/neg.json`, or the same under `DIR/responses/` (an experiment's trait
/// directory given whole).
pub fn responses_files(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    for base in [dir.to_path_buf(), dir.join("responses")] {
        let (pos, neg) = (base.join("pos.json"), base.join("neg.json"));
        if pos.is_file() || neg.is_file() {
            for f in [&pos, &neg] {
                if !f.is_file() {
                    return Err(Error::usage(format!(
                        "{} is missing (trait-interp writes pos.json and neg.json together)",
                        f.display()
                    )));
                }
            }
            return Ok((pos, neg));
        }
    }
    Err(Error::usage(format!(
        "no pos.json or neg.json in {} or {}",
        dir.display(),
        dir.join("responses").display()
    )))
}

/// Rows for trait-interp's responses files: every entry's own fields, then
/// `polarity`, `pair` and `trait`. Positives first, then negatives, each in
/// file order. Entry i of pos.json and entry i of neg.json are pair i when
/// the two files are the same length (the same scenarios and rollouts);
/// otherwise no row gets a `pair`. An entry that is not an object passes on
/// as it is, for the tool to reject at its line.
///
/// Errors: a file that cannot be read, or is not a JSON array (file and line).
pub fn response_rows(dir: &Path, trait_name: &str) -> Result<Vec<ScenarioLine>> {
    let (pos_path, neg_path) = responses_files(dir)?;
    let pos = entries(&pos_path)?;
    let neg = entries(&neg_path)?;
    let paired = pos.len() == neg.len();
    let mut rows = Vec::with_capacity(pos.len() + neg.len());
    for (entries, polarity) in [(pos, "positive"), (neg, "negative")] {
        for (i, (location, entry)) in entries.into_iter().enumerate() {
            let bytes = match serde_json::from_str::<Value>(entry.get()) {
                Ok(Value::Object(mut fields)) => {
                    fields.insert("polarity".into(), json!(polarity));
                    if paired {
                        fields.insert("pair".into(), json!(i));
                    }
                    fields.insert("trait".into(), json!(trait_name));
                    serde_json::to_vec(&fields).expect("a row serialises")
                }
                _ => entry.get().as_bytes().to_vec(),
            };
            rows.push(ScenarioLine {
                location,
                bytes,
                too_long: None,
            });
        }
    }
    Ok(rows)
}

/// A JSON array file's elements with the line each starts on.
fn entries(path: &Path) -> Result<Vec<(Location, Box<RawValue>)>> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let source: Arc<str> = Arc::from(path.display().to_string());
    let at = |line: usize| Location {
        source: source.clone(),
        line: line as u64,
    };
    let items: Vec<&RawValue> = serde_json::from_slice(&text).map_err(|e| {
        let why = if e.is_data() {
            "not a JSON array (trait-interp's responses file is a list of {\"prompt\", \"response\", \"system_prompt\"})".to_string()
        } else {
            format!("not valid JSON: {e}")
        };
        Error::data(at(e.line().max(1)), why)
    })?;
    let start = text.as_ptr() as usize;
    Ok(items
        .into_iter()
        .map(|raw| {
            let offset = raw.get().as_ptr() as usize - start;
            let line = 1 + text[..offset].iter().filter(|&&b| b == b'\n').count();
            (at(line), raw.to_owned())
        })
        .collect())
}

/// Whether a row passed every vetting check it carries: `scenario_vet` and
/// `response_vet` verdict `pass`, `coherence` verdict `coherent`. (The
/// First Token Test is the positives' own check, read by the tools that
/// hold it.)
pub fn vetting_passed(row: &crate::Row) -> bool {
    let verdict = |field: &str| row.get(field).map(|v| v["verdict"].as_str());
    let ok = |field: &str, pass: &str| verdict(field).is_none_or(|v| v == Some(pass));
    ok("scenario_vet", "pass") && ok("response_vet", "pass") && ok("coherence", "coherent")
}

/// One entry of a responses file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResponseEntry {
    /// The scenario the model continued.
    pub prompt: String,
    /// The model's continuation.
    pub response: String,
    /// The system prompt, when the scenario had one.
    pub system_prompt: Option<String>,
}

/// One scored row of a vetting summary: `idx` is its position in the file
/// it was scored from (scenario file or responses file), per polarity;
/// `scenario` is the scenario's text, which trait-interp records at the
/// scenario stage only.
#[derive(Clone, Debug, PartialEq)]
pub struct VettingResult {
    /// Position in the scored file, per polarity, from 0.
    pub idx: u64,
    /// The scenario's text (scenario stage only).
    pub scenario: Option<String>,
    /// Whether the row is a positive (else a negative).
    pub positive: bool,
    /// The judge's score, 0..100, when it gave one.
    pub score: Option<f64>,
    /// Whether the row passed its polarity's threshold.
    pub passed: bool,
}

/// A vetting summary (`scenario_scores.json`, `response_scores.json`) in
/// trait-interp's shape: trait, definition, thresholds, per polarity the
/// scored rows that passed and failed, `errors` (rows without a score),
/// `failed_indices` (failures, then errors) and every result, positives
/// first, each side by `idx`. Scores are rounded to two decimals (the
/// judges are not finer; trait-interp writes them unrounded).
pub fn vetting_summary(
    trait_name: &str,
    definition: &str,
    pos_threshold: f64,
    neg_threshold: f64,
    results: &[VettingResult],
) -> Value {
    // trait-interp lists every positive, then every negative, in file order.
    let mut ordered: Vec<&VettingResult> = results.iter().collect();
    ordered.sort_by_key(|r| (!r.positive, r.idx));
    let side = |positive: bool| ordered.iter().filter(move |r| r.positive == positive);
    let scored = |positive: bool, passed: bool| {
        side(positive)
            .filter(|r| r.score.is_some() && r.passed == passed)
            .count()
    };
    // Failures (scored, not passed) first, then errors (no score).
    let failed = |positive: bool| {
        let failures = side(positive).filter(|r| r.score.is_some() && !r.passed);
        let errors = side(positive).filter(|r| r.score.is_none());
        failures.chain(errors).map(|r| r.idx).collect::<Vec<_>>()
    };
    let name = |positive: bool| if positive { "positive" } else { "negative" };
    json!({
        "trait": trait_name,
        "trait_definition": definition,
        "thresholds": {"pos_threshold": number(pos_threshold), "neg_threshold": number(neg_threshold)},
        "summary": {
            "positive_passed": scored(true, true),
            "negative_passed": scored(false, true),
            "positive_failed": scored(true, false),
            "negative_failed": scored(false, false),
            "errors": results.iter().filter(|r| r.score.is_none()).count(),
        },
        "failed_indices": {"positive": failed(true), "negative": failed(false)},
        "results": ordered.iter().map(|r| {
            let mut result = json!({"idx": r.idx});
            if let Some(text) = &r.scenario {
                result["scenario"] = json!(text);
            }
            result["polarity"] = json!(name(r.positive));
            result["score"] = json!(r.score.map(|s| (s * 100.0).round() / 100.0));
            result
        }).collect::<Vec<_>>(),
    })
}

/// A whole number as an integer (trait-interp's thresholds are ints).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// `value` as Python's `json.dumps(value, indent=2)` writes it: two-space
/// indents, `": "` between key and value, non-ASCII characters as `\uXXXX`
/// escapes (UTF-16 surrogate pairs beyond the BMP), no final newline.
pub fn python_json(value: &impl Serialize) -> Vec<u8> {
    let pretty = serde_json::to_string_pretty(value).expect("JSON serialises");
    // Outside strings JSON is ASCII, so escaping every non-ASCII character
    // is escaping them in strings, as ensure_ascii does.
    let mut out = String::with_capacity(pretty.len());
    let mut units = [0u16; 2];
    for c in pretty.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_as_python_writes_it() {
        let entries = [
            ResponseEntry {
                prompt: "Caf\u{e9} says \"hi\"\n".into(),
                response: "ok \u{1F600}".into(),
                system_prompt: None,
            },
            ResponseEntry {
                prompt: "b".into(),
                response: String::new(),
                system_prompt: Some("sys".into()),
            },
        ];
        // Both expected texts are Python 3's json.dumps(value, indent=2).
        let python = "[\n  {\n    \"prompt\": \"Caf\\u00e9 says \\\"hi\\\"\\n\",\n    \"response\": \"ok \\ud83d\\ude00\",\n    \"system_prompt\": null\n  },\n  {\n    \"prompt\": \"b\",\n    \"response\": \"\",\n    \"system_prompt\": \"sys\"\n  }\n]";
        assert_eq!(String::from_utf8(python_json(&entries)).unwrap(), python);
        let value = json!({"a": [], "b": {}, "t": {"pos_threshold": number(60.0), "neg_threshold": number(40.5)}});
        let python = "{\n  \"a\": [],\n  \"b\": {},\n  \"t\": {\n    \"pos_threshold\": 60,\n    \"neg_threshold\": 40.5\n  }\n}";
        assert_eq!(String::from_utf8(python_json(&value)).unwrap(), python);
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn responses_become_rows_paired_by_position() {
        let dir = tempfile::tempdir().unwrap();
        let responses = dir.path().join("responses");
        std::fs::create_dir(&responses).unwrap();
        write(
            &responses,
            "pos.json",
            "[\n  {\"prompt\": \"He said\", \"response\": \" yes\", \"system_prompt\": null},\n  {\"prompt\": \"She\", \"response\": \" no\"}\n]",
        );
        write(
            &responses,
            "neg.json",
            "[{\"prompt\": \"a\", \"response\": \"b\"},\n 7]",
        );
        // The trait directory or its responses/ directory, either will do.
        let rows = response_rows(dir.path(), "t").unwrap();
        let text: Vec<String> = rows
            .iter()
            .map(|r| String::from_utf8(r.bytes.clone()).unwrap())
            .collect();
        assert_eq!(
            text[0],
            r#"{"prompt":"He said","response":" yes","system_prompt":null,"polarity":"positive","pair":0,"trait":"t"}"#
        );
        assert_eq!(
            text[2],
            r#"{"prompt":"a","response":"b","polarity":"negative","pair":0,"trait":"t"}"#
        );
        assert_eq!(text[3], "7", "a non-object is left for the tool to reject");
        let lines: Vec<u64> = rows.iter().map(|r| r.location.line).collect();
        assert_eq!(lines, [2, 3, 1, 2]);
        assert!(rows[0].location.source.ends_with("pos.json"));
        assert_eq!(response_rows(&responses, "t").unwrap().len(), 4);
    }

    #[test]
    fn unequal_files_give_no_pairs_and_bad_files_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "pos.json",
            "[{\"prompt\": \"a\", \"response\": \"b\"}]",
        );
        write(dir.path(), "neg.json", "[]");
        let rows = response_rows(dir.path(), "t").unwrap();
        assert!(!String::from_utf8(rows[0].bytes.clone())
            .unwrap()
            .contains("pair"));
        write(dir.path(), "neg.json", "{\n\"prompt\": 1}");
        let err = response_rows(dir.path(), "t").unwrap_err().to_string();
        assert!(
            err.contains("neg.json:1") && err.contains("not a JSON array"),
            "{err}"
        );
        write(dir.path(), "neg.json", "[\n{\"prompt\": ]");
        let err = response_rows(dir.path(), "t").unwrap_err().to_string();
        assert!(
            err.contains("neg.json:2") && err.contains("not valid JSON"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("neg.json")).unwrap();
        let err = response_rows(dir.path(), "t").unwrap_err().to_string();
        assert!(err.contains("neg.json is missing"), "{err}");
    }

    #[test]
    fn every_vetting_check_a_row_carries_must_pass() {
        let row = |text: &str| match serde_json::from_str::<Value>(text).unwrap() {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        assert!(vetting_passed(&row(r#"{"prompt": "a"}"#)));
        assert!(vetting_passed(&row(
            r#"{"scenario_vet": {"verdict": "pass"}, "response_vet": {"verdict": "pass"}, "coherence": {"verdict": "coherent"}}"#
        )));
        assert!(!vetting_passed(&row(
            r#"{"response_vet": {"verdict": "ambiguous"}}"#
        )));
        assert!(!vetting_passed(&row(
            r#"{"coherence": {"verdict": "incoherent"}}"#
        )));
        assert!(!vetting_passed(&row(r#"{"scenario_vet": {"score": 3}}"#)));
    }

    fn r(idx: u64, positive: bool, score: Option<f64>, passed: bool) -> VettingResult {
        VettingResult {
            idx,
            scenario: None,
            positive,
            score,
            passed,
        }
    }

    #[test]
    fn a_summary_counts_failures_and_errors() {
        let results = [
            r(0, true, Some(80.004), true),
            r(1, true, None, false),
            r(0, false, Some(55.0), false),
        ];
        let s = vetting_summary("t", "def", 60.0, 40.0, &results);
        assert_eq!(s["summary"]["positive_passed"], 1);
        assert_eq!(
            s["summary"]["positive_failed"], 0,
            "an error is not also a failure"
        );
        assert_eq!(s["summary"]["negative_failed"], 1);
        assert_eq!(s["summary"]["errors"], 1);
        assert_eq!(
            s["failed_indices"],
            json!({"positive": [1], "negative": [0]})
        );
        assert_eq!(s["results"][0]["score"], json!(80.0));
        assert_eq!(s["thresholds"]["pos_threshold"].to_string(), "60");
    }

    #[test]
    fn a_summary_lists_positives_first_and_failures_before_errors() {
        let results = [
            r(1, false, Some(50.0), false),
            r(0, true, None, false),
            r(1, true, Some(10.0), false),
            r(0, false, Some(5.0), true),
        ];
        let s = vetting_summary("t", "def", 60.0, 40.0, &results);
        let order: Vec<(u64, &str)> = (0..4)
            .map(|i| {
                let r = &s["results"][i];
                (r["idx"].as_u64().unwrap(), r["polarity"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            order,
            [
                (0, "positive"),
                (1, "positive"),
                (0, "negative"),
                (1, "negative")
            ]
        );
        assert_eq!(s["failed_indices"]["positive"], json!([1, 0]));
    }
}
