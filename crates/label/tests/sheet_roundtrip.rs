//! Property: a candidate survives the sheet untouched. Whatever its text
//! holds (quotes, commas, line breaks, any script), export then import of a
//! filled row gives back every candidate field as it was, plus the labels,
//! from a blind sheet (candidate encoded) as from one with suggestions.

use proptest::prelude::*;
use refinery_label::session::Rater;
use refinery_label::sheet::{affect_rules, export, import};
use serde_json::{json, Value};

fn rater() -> Rater {
    fn clock() -> String {
        "2026-11-22T12:00:00Z".into()
    }
    Rater {
        name: "ana".into(),
        clock,
        suggestions: false,
    }
}

fn names() -> Vec<String> {
    vec!["flat_numb".into(), "fearful_urgent".into()]
}

/// Fills every data row's label columns (the last six) with the same answer.
fn fill_all(sheet: &[u8], cells: [&str; 6]) -> Vec<u8> {
    let mut reader = csv::Reader::from_reader(sheet);
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(reader.headers().unwrap()).unwrap();
    for record in reader.records() {
        let mut fields: Vec<String> = record.unwrap().iter().map(str::to_string).collect();
        let n = fields.len();
        for (j, cell) in cells.iter().enumerate() {
            fields[n - 6 + j] = cell.to_string();
        }
        out.write_record(&fields).unwrap();
    }
    out.into_inner().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn candidates_survive_the_sheet(
        texts in prop::collection::vec("[a-zA-Z0-9 ,\"'\n\r\t;éß中😀\\\\]{1,40}", 1..6),
        extra in any::<i64>(),
        suggestions in any::<bool>(),
    ) {
        let candidates: Vec<serde_json::Map<String, Value>> = texts
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.trim().is_empty())
            .map(|(i, t)| {
                json!({"text": t, "source": "manual_chat", "session_id": format!("s{i}"), "n": extra, "tags": []})
                    .as_object()
                    .unwrap()
                    .clone()
            })
            .collect();
        let mut sheet = Vec::new();
        export(&candidates, &names(), &mut sheet, "sheet", suggestions).unwrap();
        let filled = fill_all(&sheet, ["-0.3", "0.25", "0.1", "0.6", "flat_numb", "quiet"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sheet.csv");
        std::fs::write(&path, filled).unwrap();
        let found = import(&path, &names(), &rater(), &affect_rules(&names())).unwrap();
        prop_assert!(found.problems.is_empty(), "{:?}", found.problems);
        prop_assert_eq!(found.rows.len(), candidates.len());
        for (row, candidate) in found.rows.iter().zip(&candidates) {
            for (field, value) in candidate {
                if field != "tags" {
                    prop_assert_eq!(&row[field], value);
                }
            }
            prop_assert_eq!(&row["tags"], &json!(["flat_numb", "quiet"]));
            prop_assert_eq!(&row["valence"], &json!(-0.3));
            prop_assert_eq!(&row["confidence"], &json!(0.6));
            prop_assert_eq!(&row["labelled_with_suggestions"], &json!(suggestions));
        }
    }
}
