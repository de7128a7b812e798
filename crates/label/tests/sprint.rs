//! A labelling sprint end to end: three raters take their share of the
//! candidates (`--raters`, `--overlap`, `--seed`) as blind sheets, fill them,
//! import them, and `stats --agreement` measures how far they agree on the
//! overlap and which rater copies the predictions.
//!
//! `stats` is a sibling binary, built by `cargo test --workspace`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use refinery_testkit::{assert_golden, fixture, run};
use serde_json::Value;

const LABEL: &str = env!("CARGO_BIN_EXE_label");
const RATERS: [&str; 3] = ["ana", "ben", "cho"];

fn stats() -> PathBuf {
    let path = PathBuf::from(LABEL).with_file_name("stats");
    assert!(
        path.is_file(),
        "{} is not built: run `cargo test --workspace`",
        path.display()
    );
    path
}

fn candidates() -> Vec<serde_json::Map<String, Value>> {
    std::fs::read_to_string(fixture("label/sprint.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn round1(x: f64) -> f64 {
    ((x * 10.0).round() / 10.0).clamp(-1.0, 1.0)
}

/// What each rater answers: ana copies the predictions, ben and cho
/// disagree with them a little, cho names archetypes differently.
fn answer(rater: &str, candidate: &serde_json::Map<String, Value>) -> [String; 6] {
    let pred = |axis: &str| candidate[&format!("pred_{axis}")].as_f64().unwrap();
    let (v, i, t) = (pred("valence"), pred("intimacy"), pred("tension"));
    let (v, i, t) = match rater {
        "ana" => (v, i, t),
        "ben" => (round1(v + 0.1), round1(i - 0.1), t),
        _ => (round1(v - 0.1), i, round1(t + 0.1)),
    };
    let archetype = match rater {
        "cho" if v < -0.3 => "aggressive_distance",
        _ if v < -0.3 && i > 0.3 => "hostile_intimacy",
        _ => "",
    };
    [v, i, t, 0.8].map(|x| x.to_string())[..]
        .iter()
        .cloned()
        .chain([archetype.to_string(), String::new()])
        .collect::<Vec<_>>()
        .try_into()
        .unwrap()
}

/// Exports the rater's blind sheet, fills it, imports it; returns the ids
/// the sheet held and the labelled file.
fn rate(
    dir: &Path,
    rater: &str,
    by_id: &BTreeMap<String, serde_json::Map<String, Value>>,
) -> (Vec<String>, PathBuf) {
    let sheet = dir.join(format!("{rater}.csv"));
    let share = [
        "--rater",
        rater,
        "--raters",
        "cho,ana,ben",
        "--overlap",
        "0.3",
        "--seed",
        "3",
    ];
    let mut args = vec![
        "label/sprint.jsonl",
        "--export-csv",
        sheet.to_str().unwrap(),
    ];
    args.extend(share);
    let r = run(LABEL, &args, None);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let mut reader = csv::Reader::from_path(&sheet).unwrap();
    let header = reader.headers().unwrap().clone();
    assert!(
        !header.iter().any(|h| h.starts_with("suggested")),
        "a blind sheet has no suggestion column: {header:?}"
    );
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&header).unwrap();
    let mut ids = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        let text = &record[1];
        let (id, candidate) = by_id
            .iter()
            .find(|(_, c)| c["text"] == text)
            .expect("the sheet holds candidates");
        ids.push(id.clone());
        let mut cells: Vec<String> = record.iter().map(str::to_string).collect();
        let n = cells.len();
        cells[n - 6..].clone_from_slice(&answer(rater, candidate));
        out.write_record(&cells).unwrap();
    }
    std::fs::write(&sheet, out.into_inner().unwrap()).unwrap();
    let labelled = dir.join(format!("{rater}.jsonl"));
    let r = std::process::Command::new(LABEL)
        .args([
            "--import-csv",
            sheet.to_str().unwrap(),
            "-o",
            labelled.to_str().unwrap(),
            "--rater",
            rater,
        ])
        .env("SOURCE_DATE_EPOCH", "1795377600")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    (ids, labelled)
}

#[test]
fn three_raters_share_the_candidates_with_an_overlap_and_agreement_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let by_id: BTreeMap<String, _> = candidates()
        .into_iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c))
        .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut files = Vec::new();
    let mut dealt = Vec::new();
    for rater in RATERS {
        let (ids, file) = rate(dir.path(), rater, &by_id);
        dealt.push(ids.len());
        for id in ids {
            *seen.entry(id).or_default() += 1;
        }
        files.push(file);
    }
    // every candidate is labelled: once, or (the overlap) by all three
    assert_eq!(seen.len(), by_id.len());
    assert!(seen.values().all(|&n| n == 1 || n == 3), "{seen:?}");
    let shared = seen.values().filter(|&&n| n == 3).count();
    assert_eq!(shared, 12, "an overlap of 0.3 of 40 candidates");
    // the other 28 dealt evenly: 10, 9, 9 besides the overlap
    let mut alone: Vec<usize> = dealt.iter().map(|n| n - shared).collect();
    alone.sort();
    assert_eq!(alone, [9, 9, 10]);
    // the overlap is marked in every labelled row
    for file in &files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            let id = row["id"].as_str().unwrap();
            assert_eq!(row["overlap"], Value::from(seen[id] == 3), "{id}");
            assert_eq!(row["assigned_to"], row["labelled_by"], "{id}");
            assert_eq!(row["labelled_with_suggestions"], false);
        }
    }

    let paths: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let mut args = vec![
        "--agreement",
        "--format",
        "json",
        "--require",
        "alpha(valence) >= 0.8",
    ];
    args.extend(&paths);
    let r = run(stats().to_str().unwrap(), &args, None);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["raters"], serde_json::json!(RATERS));
    assert_eq!(report["items"], by_id.len());
    assert_eq!(report["shared_items"], shared);
    let valence = &report["fields"][0];
    assert_eq!(valence["field"], "valence");
    assert_eq!(valence["items"], shared);
    assert!(valence["alpha"].as_f64().unwrap() > 0.8, "{valence}");
    // ana copied every prediction; ben moved every valence by a tenth
    let mirroring = report["mirroring"].as_array().unwrap();
    let share = |rater: &str| {
        mirroring
            .iter()
            .find(|m| m["rater"] == rater && m["field"] == "valence")
            .unwrap()["share"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(share("ana"), 1.0);
    assert!(share("ben") < 0.2);

    // the report as people read it, and a gate that fails
    let mut args = vec![
        "--agreement",
        "--format",
        "markdown",
        "--require",
        "alpha(archetype) >= 0.9",
    ];
    args.extend(&paths);
    let r = run(stats().to_str().unwrap(), &args, None);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("gate failed: alpha(archetype) >= 0.9 (actual "),
        "{}",
        r.stderr
    );
    assert_golden("golden/stats/agreement.md", &r.stdout);
}

#[test]
fn a_row_without_the_key_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"a\",\"labelled_by\":\"ana\",\"valence\":0.1}\n{\"labelled_by\":\"ben\",\"valence\":0.2}\n",
    )
    .unwrap();
    let r = run(
        stats().to_str().unwrap(),
        &["--agreement", file.to_str().unwrap()],
        None,
    );
    assert_eq!(r.status, 1);
    assert!(
        r.stderr
            .contains("rows.jsonl:2: no `id` to pair raters' rows on (--key)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_sheet_dealt_to_one_rater_does_not_import_as_another() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("ana.csv");
    let r = run(
        LABEL,
        &[
            "label/sprint.jsonl",
            "--export-csv",
            sheet.to_str().unwrap(),
            "--rater",
            "ana",
            "--raters",
            "ana,ben",
            "--overlap",
            "0.5",
        ],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let mut reader = csv::Reader::from_path(&sheet).unwrap();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(reader.headers().unwrap()).unwrap();
    for record in reader.records() {
        let mut cells: Vec<String> = record.unwrap().iter().map(str::to_string).collect();
        let n = cells.len();
        cells[n - 6..n - 2].clone_from_slice(&["0.1", "0.2", "0.3", "0.9"].map(String::from));
        out.write_record(&cells).unwrap();
    }
    std::fs::write(&sheet, out.into_inner().unwrap()).unwrap();
    let r = run(
        LABEL,
        &["--import-csv", sheet.to_str().unwrap(), "--rater", "ben"],
        None,
    );
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.contains(
            "row 2: this sheet was dealt to ana (--raters), not ben: import it with --rater ana"
        ),
        "{}",
        r.stderr
    );
}
