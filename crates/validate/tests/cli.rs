//! CLI tests: the `validate` binary on fixtures in `testdata/`, against golden files.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use refinery_testkit::{assert_golden, fixture, run};

const BIN: &str = env!("CARGO_BIN_EXE_validate");

#[test]
fn valid_rows_pass_through_byte_for_byte() {
    let r = run(
        BIN,
        &["affect/small.jsonl", "--allow-duplicates", "--quiet"],
        None,
    );
    // Row 11 has no axes and row 12 odd values: both invalid.
    assert_eq!(r.status, 1);
    let input = std::fs::read_to_string(fixture("affect/small.jsonl")).unwrap();
    let expected: String = input.lines().take(10).map(|l| format!("{l}\n")).collect();
    assert_eq!(r.stdout, expected);
}

#[test]
fn every_problem_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let r = run(
        BIN,
        &[
            "--rejects",
            rejects.to_str().unwrap(),
            "affect/invalid_rows.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 1);
    assert_golden("golden/validate/invalid_rows.stdout.jsonl", &r.stdout);
    let stderr = r.stderr.replace(&rejects.display().to_string(), "REJECTS");
    assert_golden("golden/validate/invalid_rows.stderr.txt", &stderr);
    assert_golden(
        "golden/validate/invalid_rows.rejects.jsonl",
        &std::fs::read_to_string(&rejects).unwrap(),
    );
}

#[test]
fn malformed_lines_are_reported_not_fatal() {
    let r = run(BIN, &["affect/bad.jsonl"], None);
    assert_eq!(r.status, 1);
    assert_golden("golden/validate/bad.stderr.txt", &r.stderr);
    assert_eq!(r.stdout.lines().count(), 2);
}

#[test]
fn scenario_schema() {
    let r = run(
        BIN,
        &["--schema", "scenario", "affect/scenarios.jsonl"],
        None,
    );
    assert_eq!(r.status, 1);
    assert_golden("golden/validate/scenarios.stderr.txt", &r.stderr);
    assert_eq!(r.stdout.lines().count(), 2);
}

#[test]
fn clean_input_exits_0() {
    let r = run(
        BIN,
        &["../pipelines/sample/run002_plus_goe.sample.jsonl"],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .ends_with("282 read, 282 written, 0 filtered, 0 rejected\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_closed_pipe_ends_quietly_with_0() {
    // `validate big.jsonl | head -1`: the reader goes away after one line.
    let mut child = Command::new(BIN)
        .arg("--allow-duplicates")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let row = std::fs::read_to_string(fixture("affect/small.jsonl")).unwrap();
    let first = row.lines().next().unwrap().to_string() + "\n";
    let writer = std::thread::spawn(move || {
        for _ in 0..200_000 {
            if stdin.write_all(first.as_bytes()).is_err() {
                break;
            }
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("{\"text\""));
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

/// Field case 09 and kind 7: canonically equivalent texts (é as one code
/// point or as e + U+0301) and case variants under full case folding
/// (ΟΔΟΣ / οδος) are duplicates.
#[test]
fn canonical_equivalents_and_case_folds_are_duplicates() {
    let r = run(BIN, &["unicode/nfc_nfd.jsonl"], None);
    assert_eq!(r.status, 1, "{}", r.stderr);
    for (line, first) in [(2, 1), (4, 3), (36, 35)] {
        let wanted = format!(
            "unicode/nfc_nfd.jsonl:{line}: text: duplicate of unicode/nfc_nfd.jsonl:{first}"
        );
        assert!(r.stderr.contains(&wanted), "{wanted}\n{}", r.stderr);
    }
}
