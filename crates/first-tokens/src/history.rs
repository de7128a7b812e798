//! The loop's progress to "everything passes": `--history FILE` appends one
//! row per round (each run of the test) to a JSON Lines file kept next to
//! the trait's results, and the report shows every round as a table, so the
//! user sees the loop converge, or not.
//!
//! A row: `round` (1, 2, …), `trait`, `rows`, `pairs`, per stage the rows
//! passed (`scenario_vet_passed`, `response_vet_passed`, `coherent`: null
//! when the rows did not go through it), `positives`, `express` (positives whose first
//! tokens carry the trait), `pairs_passed` (both sides passed every stage),
//! `judge`, and `self_check`: each stage's AUC of positive against negative
//! scores.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use refinery_core::{Error, Location, Result};
use serde_json::{json, Map, Value};

use crate::report::{stages, Checked};

/// The pairs whose rows all passed every check, with both sides present.
pub fn pairs_passed(checked: &[Checked]) -> usize {
    let mut pairs: BTreeMap<&str, (bool, bool, bool)> = BTreeMap::new();
    for c in checked {
        let Some(pair) = c.pair.as_deref() else {
            continue;
        };
        let (pos, neg, ok) = pairs.entry(pair).or_insert((false, false, true));
        *pos |= c.polarity == "positive";
        *neg |= c.polarity == "negative";
        *ok &= c.passed();
    }
    pairs.values().filter(|(p, n, ok)| *p && *n && *ok).count()
}

/// This round's row (without its number).
pub fn round_row(trait_name: &str, judge: &str, checked: &[Checked]) -> Map<String, Value> {
    let passed = |verdict: fn(&Checked) -> Option<&str>| {
        let seen = checked.iter().any(|c| verdict(c).is_some());
        seen.then(|| {
            checked
                .iter()
                .filter(|c| verdict(c) == Some("pass"))
                .count()
        })
    };
    let positives: Vec<&Checked> = checked
        .iter()
        .filter(|c| c.polarity == "positive")
        .collect();
    let pairs = checked
        .iter()
        .filter_map(|c| c.pair.as_deref())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let self_check: Map<String, Value> = stages(checked)
        .into_iter()
        .map(|(stage, s)| {
            let key = match stage {
                "scenario vetting" => "scenario_vet",
                "response vetting" => "response_vet",
                _ => "first_tokens",
            };
            (
                key.to_string(),
                json!(s.auc.map(|a| (a * 1000.0).round() / 1000.0)),
            )
        })
        .collect();
    let row = json!({
        "trait": trait_name,
        "rows": checked.len(),
        "pairs": pairs,
        "scenario_vet_passed": passed(|c| c.scenario_vet.as_ref().map(|v| v.1.as_str())),
        "response_vet_passed": passed(|c| c.response_vet.as_ref().map(|v| v.1.as_str())),
        "coherent": checked.iter().any(|c| c.coherence.is_some()).then(|| {
            checked
                .iter()
                .filter(|c| c.coherence.as_deref() == Some("coherent"))
                .count()
        }),
        "positives": positives.len(),
        "express": positives.iter().filter(|c| c.test.verdict == "express").count(),
        "pairs_passed": pairs_passed(checked),
        "judge": judge,
        "self_check": self_check,
    });
    match row {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object"),
    }
}

/// Every round with this one numbered and last, and the line that records
/// it (for [`append`], once the report is written). Errors: an unreadable
/// file, or a line that is not a JSON object (file and line).
pub fn with_round(path: &Path, mut row: Map<String, Value>) -> Result<(Vec<Value>, String)> {
    let mut rounds = read(path)?;
    let mut numbered = Map::new();
    numbered.insert("round".into(), json!(rounds.len() + 1));
    numbered.append(&mut row);
    let line = serde_json::to_string(&numbered).expect("a row serialises");
    rounds.push(Value::Object(numbered));
    Ok((rounds, line))
}

/// Appends a round's line to the history file.
pub fn append(path: &Path, line: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(file, "{line}").map_err(|e| Error::io(path, e))
}

fn read(path: &Path) -> Result<Vec<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let source: Arc<str> = Arc::from(path.display().to_string());
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| match serde_json::from_str::<Value>(l) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(Error::data(
                Location {
                    source: source.clone(),
                    line: i as u64 + 1,
                },
                "not a round of the loop's history (a JSON object a line)",
            )),
        })
        .collect()
}

/// "Rounds": the history as a table; nothing without one.
pub fn rounds_section(rounds: &[Value]) -> String {
    if rounds.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "## Rounds\n\nEach run of the loop on this trait, this one last: rows that passed each stage, \
         positives whose first tokens carry the trait, pairs that passed everything, and the first-token \
         judge's self-check (AUC).\n\n\
         | round | rows | scenario vet passed | response vet passed | first tokens express | pairs passed | AUC (first tokens) | judge |\n\
         |---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rounds {
        let count = |k: &str| r[k].as_u64().map_or("–".into(), |n| n.to_string());
        let of = |k: &str, total: &str| match (r[k].as_u64(), r[total].as_u64()) {
            (Some(n), Some(t)) => format!("{n}/{t}"),
            _ => "–".into(),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | `{}` |\n",
            count("round"),
            count("rows"),
            of("scenario_vet_passed", "rows"),
            of("response_vet_passed", "rows"),
            of("express", "positives"),
            of("pairs_passed", "pairs"),
            r["self_check"]["first_tokens"]
                .as_f64()
                .map_or("–".into(), |a| format!("{a:.2}")),
            r["judge"].as_str().unwrap_or("?"),
        ));
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_numbered_and_bad_lines_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let row = |n: u64| {
            let mut m = Map::new();
            m.insert("rows".into(), json!(n));
            m
        };
        let (_, line) = with_round(&path, row(4)).unwrap();
        append(&path, &line).unwrap();
        let (rounds, line) = with_round(&path, row(6)).unwrap();
        append(&path, &line).unwrap();
        assert_eq!(rounds.len(), 2);
        assert_eq!(rounds[1]["round"], 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"round\":1,\"rows\":4}\n{\"round\":2,\"rows\":6}\n");
        let md = rounds_section(&rounds);
        assert!(md.contains("| 2 | 6 | – |"), "{md}");
        std::fs::write(&path, "{\"round\":1}\n[1]\n").unwrap();
        let err = with_round(&path, row(1)).unwrap_err().to_string();
        assert!(err.contains("history.jsonl:2"), "{err}");
    }
}
