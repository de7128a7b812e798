//! CLI tests: `map-archetype` output and every mapping-file error.

use refinery_testkit::{assert_golden, run};

const BIN: &str = env!("CARGO_BIN_EXE_map-archetype");

#[test]
fn maps_labels_axes_and_keywords() {
    let input = std::fs::read(refinery_testkit::fixture(
        "golden/extract-candidates/goemotions_tsv.jsonl",
    ))
    .unwrap();
    let r = run(BIN, &[], Some(&input));
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden("golden/map-archetype/goemotions.jsonl", &r.stdout);
    let r = run(BIN, &["affect/small.jsonl"], None);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden("golden/map-archetype/small.jsonl", &r.stdout);
}

#[test]
fn predictions_drive_the_axis_rules_when_asked() {
    let input =
        std::fs::read(refinery_testkit::fixture("golden/extract-candidates/log_joined.jsonl")).unwrap();
    let r = run(BIN, &["--use-predictions", "--only-matched"], Some(&input));
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden("golden/map-archetype/log_joined.jsonl", &r.stdout);
}

#[test]
fn quotas_overflow_and_accounting() {
    let dir = tempfile::tempdir().unwrap();
    let overflow = dir.path().join("overflow.jsonl");
    let input = std::fs::read(refinery_testkit::fixture(
        "golden/extract-candidates/goemotions_tsv.jsonl",
    ))
    .unwrap();
    let r = run(
        BIN,
        &[
            "--only-matched",
            "--per-archetype",
            "1",
            "--seed",
            "5",
            "--overflow",
            overflow.to_str().unwrap(),
        ],
        Some(&input),
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 7);
    let spilled = std::fs::read_to_string(&overflow).unwrap();
    assert_eq!(spilled.lines().count(), 4);
    assert!(
        r.stderr
            .ends_with("14 read, 7 written, 7 filtered, 0 rejected\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn every_mapping_error_names_file_archetype_and_problem() {
    for case in [
        "unknown_label",
        "unknown_field",
        "empty_rule",
        "contradiction",
        "bad_axes_rule",
        "priority_missing",
        "empty_clause",
        "bad_regex",
    ] {
        let path = format!("mapping/{case}.json");
        let r = run(BIN, &["--mapping", &path], Some(b"{}\n"));
        assert_eq!(r.status, 2, "{case}: {}", r.stderr);
        assert!(
            r.stderr.starts_with(&format!("map-archetype: {path}: ")),
            "{}",
            r.stderr
        );
        assert_golden(&format!("golden/map-archetype/errors/{case}.txt"), &r.stderr);
    }
}
