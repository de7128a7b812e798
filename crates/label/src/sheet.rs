//! The spreadsheet route: candidates out as a CSV sheet with empty label
//! columns, a filled sheet back in as labelled rows. The header row says
//! what each label column allows; import applies the form's checks cell by
//! cell and then `validate --schema affect`, naming the sheet row.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use serde_json::Value;

use refinery_core::{Error, Result, Row};
use refinery_validate::{check, Rules, Schema};

use crate::form::{parse_archetype, parse_number, parse_tags, Answer, Field};
use crate::session::{labelled_row, Rater};

/// The columns after the read-only ones, headed by their allowed values.
fn label_headers(names: &[String]) -> Vec<String> {
    vec![
        "valence [-1..1]".into(),
        "intimacy [-1..1]".into(),
        "tension [-1..1]".into(),
        "confidence [0..1]".into(),
        format!("archetype (empty or one of: {})", names.join(" ")),
        "tags (extra, comma-separated)".into(),
    ]
}

const SUGGESTED: &str = "suggested (not labels)";

/// The read-only columns. Blind (without suggestions) the candidate travels
/// encoded, so its predicted values are not one glance away from the rater.
fn read_only_headers(suggestions: bool) -> Vec<&'static str> {
    if suggestions {
        vec![
            "row",
            "text",
            "context",
            SUGGESTED,
            "candidate (JSON, do not edit)",
        ]
    } else {
        vec!["row", "text", "context", "candidate (encoded, do not edit)"]
    }
}

/// Writes the candidates as a sheet for raters: with `suggestions`, a column
/// of predicted and prior values beside the empty label columns.
pub fn export(
    rows: &[Row],
    names: &[String],
    out: impl Write,
    out_name: &str,
    suggestions: bool,
) -> Result<()> {
    let io = |e: csv::Error| Error::io(out_name, std::io::Error::other(e));
    let mut sheet = csv::Writer::from_writer(out);
    let header: Vec<String> = read_only_headers(suggestions)
        .into_iter()
        .map(str::to_string)
        .chain(label_headers(names))
        .collect();
    sheet.write_record(&header).map_err(io)?;
    for (i, row) in rows.iter().enumerate() {
        let text = row.get("text").and_then(Value::as_str).unwrap_or("");
        let context = match row.get("context") {
            Some(Value::Array(turns)) => turns
                .iter()
                .map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" ⏎ "),
            _ => String::new(),
        };
        let candidate = serde_json::to_string(row).expect("a row serialises");
        let mut record = vec![(i + 1).to_string(), text.to_string(), context];
        if suggestions {
            record.extend([suggested(row), candidate]);
        } else {
            record.push(URL_SAFE_NO_PAD.encode(candidate));
        }
        let empty = std::iter::repeat_n(String::new(), 6);
        sheet
            .write_record(record.into_iter().chain(empty))
            .map_err(io)?;
    }
    sheet.flush().map_err(|e| Error::io(out_name, e))
}

/// The predicted and prior values, in one readable cell.
fn suggested(row: &Row) -> String {
    let mut parts = Vec::new();
    if let Some(a) = row.get("archetype").and_then(Value::as_str) {
        parts.push(format!("archetype={a}"));
    }
    for axis in ["valence", "intimacy", "tension"] {
        if let Some(x) = crate::form::suggestion(row, axis) {
            parts.push(format!("{axis}={x}"));
        }
    }
    parts.join(" ")
}

/// What an import found: the labelled rows, how many rows were left blank,
/// and every bad cell or row, named by its sheet row.
#[derive(Debug, Default)]
pub struct Imported {
    pub rows: Vec<Row>,
    pub blank: usize,
    pub problems: Vec<String>,
}

/// Reads a filled sheet. Sheet rows count from 1 at the header, as a
/// spreadsheet program numbers them.
pub fn import(path: &Path, names: &[String], rater: &Rater, rules: &Rules) -> Result<Imported> {
    let name = path.display().to_string();
    let mut sheet = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    let header = sheet
        .headers()
        .map_err(|e| Error::config(path, e.to_string()))?
        .clone();
    let column = |prefix: &str| {
        header
            .iter()
            .position(|h| h.split([' ', '[', '(']).next() == Some(prefix))
            .ok_or_else(|| {
                Error::config(
                    path,
                    format!("no {prefix:?} column: is this a sheet `label --export-csv` wrote?"),
                )
            })
    };
    let candidate_col = column("candidate")?;
    // The sheet says how it was labelled: with the suggestion column or blind.
    let rater = &Rater {
        suggestions: header.iter().any(|h| h == SUGGESTED),
        ..rater.clone()
    };
    let label_cols: Vec<usize> = [
        "valence",
        "intimacy",
        "tension",
        "confidence",
        "archetype",
        "tags",
    ]
    .iter()
    .map(|c| column(c))
    .collect::<Result<_>>()?;
    let mut found = Imported::default();
    for (i, record) in sheet.records().enumerate() {
        let sheet_row = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                found.problems.push(format!("{name} row {sheet_row}: {e}"));
                continue;
            }
        };
        let cells: Vec<&str> = label_cols
            .iter()
            .map(|&c| record.get(c).unwrap_or(""))
            .collect();
        if cells.iter().all(|c| c.trim().is_empty()) {
            found.blank += 1;
            continue;
        }
        let mut bad = |message: String| {
            found
                .problems
                .push(format!("{name} row {sheet_row}: {message}"))
        };
        let candidate: Row = match decode_candidate(record.get(candidate_col).unwrap_or("")) {
            Ok(row) => row,
            Err(e) => {
                bad(format!("candidate: not what the export wrote ({e})"));
                continue;
            }
        };
        if let Some(Value::String(to)) = candidate.get("assigned_to") {
            if *to != rater.name {
                bad(format!(
                    "this sheet was dealt to {to} (--raters), not {}: import it with --rater {to}",
                    rater.name
                ));
                continue;
            }
        }
        match answer_from_cells(&cells, names) {
            Err(messages) => messages.into_iter().for_each(bad),
            Ok(answer) => {
                let row = labelled_row(&candidate, &answer, rater);
                let problems = check(&row, rules);
                if problems.is_empty() {
                    found.rows.push(row);
                }
                problems.into_iter().for_each(bad);
            }
        }
    }
    Ok(found)
}

/// The answer in a sheet row's label cells, or every cell's problem.
/// The candidate cell: JSON (sheets with suggestions) or base64url JSON.
fn decode_candidate(cell: &str) -> std::result::Result<Row, String> {
    let cell = cell.trim();
    if cell.starts_with('{') {
        return serde_json::from_str(cell).map_err(|e| e.to_string());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cell).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

fn answer_from_cells(cells: &[&str], names: &[String]) -> Result<Answer, Vec<String>> {
    let mut problems = Vec::new();
    let mut numbers = [0.0; 4];
    for (i, field) in [
        Field::Valence,
        Field::Intimacy,
        Field::Tension,
        Field::Confidence,
    ]
    .into_iter()
    .enumerate()
    {
        if cells[i].trim().is_empty() {
            problems.push(format!("{}: empty (a value is required)", field.name()));
            continue;
        }
        match parse_number(field, cells[i]) {
            Ok(x) => numbers[i] = x,
            Err(m) => problems.push(m),
        }
    }
    let archetype = parse_archetype(cells[4], names)
        .map_err(|m| problems.push(m))
        .ok()
        .flatten();
    let tags = parse_tags(cells[5])
        .map_err(|m| problems.push(m))
        .unwrap_or_default();
    if problems.is_empty() {
        Ok(Answer {
            numbers,
            archetype,
            tags,
        })
    } else {
        Err(problems)
    }
}

/// The affect schema's rules, as `validate` applies them by default.
pub fn affect_rules(names: &[String]) -> Rules {
    Rules {
        schema: Schema::Affect,
        sources: ["manual_chat", "goemotions", "synthetic_probe"]
            .map(String::from)
            .to_vec(),
        archetypes: names.to_vec(),
        max_context: 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_cell_is_named() {
        let names = vec!["flat_numb".to_string()];
        let problems =
            answer_from_cells(&["1.5", "x", "", "0.5", "cautious", "Bad"], &names).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].starts_with("valence: 1.5 is outside"));
        assert!(problems[3].contains("archetype: unknown \"cautious\""));
    }
}
