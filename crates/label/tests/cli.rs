//! The `label` binary: the spreadsheet route end to end (export, fill,
//! import, then `validate --schema affect`), bad sheets, and the refusal to
//! run interactively without a terminal.

use refinery_testkit::{assert_golden, run};

const LABEL: &str = env!("CARGO_BIN_EXE_label");

fn validate_bin() -> std::path::PathBuf {
    // validate is built into the same target directory as label
    std::path::Path::new(LABEL).with_file_name("validate")
}

/// Fills the label columns of an exported sheet with the given cells per row.
fn fill(sheet: &str, cells: &[&[&str]]) -> String {
    let mut reader = csv::Reader::from_reader(sheet.as_bytes());
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(reader.headers().unwrap()).unwrap();
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let mut fields: Vec<String> = record.iter().map(str::to_string).collect();
        if let Some(row) = cells.get(i) {
            let n = fields.len();
            for (j, cell) in row.iter().enumerate() {
                fields[n - 6 + j] = cell.to_string();
            }
        }
        out.write_record(&fields).unwrap();
    }
    String::from_utf8(out.into_inner().unwrap()).unwrap()
}

#[test]
fn the_csv_round_trip_passes_validate() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("sheet.csv");
    let sheet_arg = sheet.to_str().unwrap();
    let r = run(
        LABEL,
        &["label/candidates.jsonl", "--export-csv", sheet_arg],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let exported = std::fs::read_to_string(&sheet).unwrap();
    assert_golden("golden/label/sheet.csv", &exported);

    let filled = fill(
        &exported,
        &[
            &["-0.8", "0.6", "0.7", "0.9", "hostile_intimacy", "argument"],
            &["", "", "", "", "", ""],
            &["-0.4", "0.5", "0.6", "0.5", "", ""],
            &[
                "-0.7",
                "-0.6",
                "0.8",
                "1",
                "aggressive_distance",
                "insult, reddit",
            ],
        ],
    );
    std::fs::write(&sheet, filled).unwrap();
    let out = dir.path().join("labelled.jsonl");
    let r = std::process::Command::new(LABEL)
        .args([
            "--import-csv",
            sheet_arg,
            "-o",
            out.to_str().unwrap(),
            "--rater",
            "ana",
        ])
        .env("SOURCE_DATE_EPOCH", "1795377600")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("3 labelled rows imported, 1 sheet rows left blank"),
        "{stderr}"
    );
    let labelled = std::fs::read_to_string(&out).unwrap();
    assert_golden("golden/label/imported.jsonl", &labelled);

    let v = run(
        validate_bin().to_str().unwrap(),
        &["--schema", "affect", out.to_str().unwrap()],
        None,
    );
    assert_eq!(v.status, 0, "validate: {}", v.stderr);
    assert_eq!(
        v.stdout, labelled,
        "valid rows pass through validate unchanged"
    );
}

#[test]
fn a_bad_sheet_names_every_bad_cell_by_its_row_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("sheet.csv");
    let sheet_arg = sheet.to_str().unwrap();
    run(
        LABEL,
        &["label/candidates.jsonl", "--export-csv", sheet_arg],
        None,
    );
    let exported = std::fs::read_to_string(&sheet).unwrap();
    let filled = fill(
        &exported,
        &[
            &["-0.8", "0.6", "0.7", "0.9", "hostile_intimacy", ""],
            &["1.4", "high", "0.1", "", "cautious", ""],
            &["", "", "", "", "", ""],
            &["0.1", "0.1", "0.1", "0.5", "flat_numb", "Not A Tag"],
        ],
    );
    std::fs::write(&sheet, filled).unwrap();
    let out = dir.path().join("labelled.jsonl");
    let r = run(
        LABEL,
        &[
            "--import-csv",
            sheet_arg,
            "-o",
            out.to_str().unwrap(),
            "--rater",
            "ana",
        ],
        None,
    );
    assert_eq!(r.status, 1);
    let stderr = r.stderr.replace(sheet_arg, "sheet.csv");
    assert_golden("golden/label/bad_sheet.stderr", &stderr);
    assert!(
        !out.exists(),
        "nothing is written from a sheet with bad cells"
    );
}

#[test]
fn interactive_mode_needs_a_terminal() {
    let r = run(
        LABEL,
        &[
            "label/candidates.jsonl",
            "-o",
            "/dev/null",
            "--rater",
            "ana",
        ],
        None,
    );
    assert_eq!(r.status, 2);
    assert!(r.stderr.contains("needs a terminal"), "{}", r.stderr);
}

#[test]
fn a_bad_candidate_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"fine\"}\n{\"text\": \n").unwrap();
    let r = run(
        LABEL,
        &[
            bad.to_str().unwrap(),
            "--export-csv",
            dir.path().join("s.csv").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(r.stderr.contains("bad.jsonl:2:"), "{}", r.stderr);
}

/// A candidate without text is left out of the sheet (and named), so every
/// sheet `label` exports imports once filled.
#[test]
fn an_exported_sheet_always_imports() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("sheet.csv");
    let sheet_arg = sheet.to_str().unwrap();
    let r = run(
        LABEL,
        &["label/with_empty_text.jsonl", "--export-csv", sheet_arg],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "left out 1 candidates without text (nothing to label): label/with_empty_text.jsonl:2"
        ),
        "{}",
        r.stderr
    );
    let exported = std::fs::read_to_string(&sheet).unwrap();
    let filled = fill(
        &exported,
        &[
            &["-0.3", "0.2", "0.4", "0.8", "", ""],
            &["-0.3", "0.2", "0.4", "0.8", "", ""],
        ],
    );
    std::fs::write(&sheet, filled).unwrap();
    let out = dir.path().join("labelled.jsonl");
    let r = run(
        LABEL,
        &[
            "--import-csv",
            sheet_arg,
            "-o",
            out.to_str().unwrap(),
            "--rater",
            "r1",
        ],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
}

/// Candidates are read as every tool reads JSON Lines: from a pipe for the
/// export, and with `--rejects` a bad line is set aside and `label` exits 1
/// once the sheet is written.
#[test]
fn the_export_reads_a_pipe_and_sets_bad_lines_aside_with_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("s.csv");
    let rejects = dir.path().join("rejects.jsonl");
    let input = b"{\"text\": \"fine\"}\n{\"text\": \n{\"text\": \"also fine\"}\n";
    let r = run(
        LABEL,
        &[
            "--export-csv",
            sheet.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ],
        Some(input),
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(r.stderr.contains("2 candidates written"), "{}", r.stderr);
    assert!(r.stderr.contains("1 row rejected"), "{}", r.stderr);
    let sheet = std::fs::read_to_string(&sheet).unwrap();
    assert_eq!(sheet.lines().count(), 3, "{sheet}");
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    assert!(
        rejected.contains("\"file\":\"<stdin>\",\"line\":2"),
        "{rejected}"
    );
}

#[test]
fn labelling_in_the_terminal_takes_one_file() {
    let r = run(
        LABEL,
        &[
            "label/candidates.jsonl",
            "label/candidates.jsonl",
            "-o",
            "/dev/null",
            "--rater",
            "ana",
        ],
        None,
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("takes one candidates FILE"),
        "{}",
        r.stderr
    );
}
