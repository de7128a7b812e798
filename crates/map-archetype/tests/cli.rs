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
    let input = std::fs::read(refinery_testkit::fixture(
        "golden/extract-candidates/log_joined.jsonl",
    ))
    .unwrap();
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
        let r = run(BIN, &["--targets", &path], Some(b"{}\n"));
        assert_eq!(r.status, 2, "{case}: {}", r.stderr);
        assert!(
            r.stderr.starts_with(&format!("map-archetype: {path}: ")),
            "{}",
            r.stderr
        );
        assert_golden(
            &format!("golden/map-archetype/errors/{case}.txt"),
            &r.stderr,
        );
    }
}

/// `--targets FILE` is the archetypes file, as in every other tool (the old
/// `--mapping` still names it); `--cap-at-target` keeps at most each
/// archetype's target count from that file.
#[test]
fn targets_names_the_file_and_cap_at_target_uses_its_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mapping =
        std::fs::read_to_string(refinery_testkit::fixture("../pipelines/archetypes.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&mapping).unwrap();
    for a in doc["archetypes"].as_array_mut().unwrap() {
        a["target"] = serde_json::json!(1);
    }
    let path = dir.path().join("one_each.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let path = path.to_str().unwrap();
    let input = std::fs::read(refinery_testkit::fixture(
        "golden/extract-candidates/goemotions_tsv.jsonl",
    ))
    .unwrap();
    let capped = run(
        BIN,
        &["--targets", path, "--cap-at-target", "--only-matched"],
        Some(&input),
    );
    assert_eq!(capped.status, 0, "{}", capped.stderr);
    let mut seen = std::collections::HashMap::new();
    for line in capped.stdout.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        *seen
            .entry(row["archetype"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(seen.len() > 1 && seen.values().all(|&n| n == 1), "{seen:?}");
    let alias = run(
        BIN,
        &["--mapping", path, "--cap-at-target", "--only-matched"],
        Some(&input),
    );
    assert_eq!(alias.stdout, capped.stdout);
}
