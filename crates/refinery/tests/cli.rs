//! The multicall binary runs each tool as its own binary does.

use refinery_testkit::run;

const BIN: &str = env!("CARGO_BIN_EXE_refinery");

#[test]
fn a_tool_through_refinery_gives_the_same_bytes_and_status() {
    // validate passes valid rows through unchanged.
    let dataset = "golden/pipelines/fine_tune_run003_affect_dataset_run003.jsonl";
    let ok = run(BIN, &["validate", dataset], None);
    assert_eq!(ok.status, 0, "{}", ok.stderr);
    let want = std::fs::read_to_string(refinery_testkit::fixture(dataset)).unwrap();
    assert_eq!(ok.stdout, want);
    assert!(ok.stderr.starts_with("validate: 310 read"), "{}", ok.stderr);
    let stats = run(
        BIN,
        &["stats", "--format", "json", "affect/small.jsonl"],
        None,
    );
    assert_eq!(stats.status, 0, "{}", stats.stderr);
    assert!(stats.stdout.contains("\"valence\""));
    let bad = run(BIN, &["validate"], Some(b"{\"text\": 1}\n"));
    assert_eq!(bad.status, 1);
    assert!(
        bad.stderr.contains("validate: <stdin>:1: text"),
        "{}",
        bad.stderr
    );
}

#[test]
fn an_unknown_tool_is_refused_with_the_list() {
    let r = run(BIN, &["statz"], None);
    assert_eq!(r.status, 2);
    assert!(r.stderr.contains("no tool named `statz`") && r.stderr.contains("stratify-split"));
    let help = run(BIN, &["--help"], None);
    assert_eq!(help.status, 0);
    assert_eq!(
        help.stdout.lines().filter(|l| l.starts_with("  ")).count(),
        14
    );
}
