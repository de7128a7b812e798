//! CLI tests: `apply-suggestions` on a trait's scenario files.

use refinery_testkit::{assert_golden, run};

const BIN: &str = env!("CARGO_BIN_EXE_apply-suggestions");

#[test]
fn accepted_suggestions_replace_their_scenarios_and_pairs_stay_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let r = run(
        BIN,
        &[
            "--positive",
            "suggest/positive.txt",
            "--negative",
            "suggest/negative.txt",
            "--out",
            dir.path().to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "suggest/suggestions.jsonl",
        ],
        None,
    );
    // The last suggestion's `before` is stale: rejected, so exit 1.
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("4 read, 1 written, 2 filtered, 1 rejected"),
        "{}",
        r.stderr
    );
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    assert!(
        rejected.contains("no longer the suggestion's `before`"),
        "{rejected}"
    );
    assert_golden("golden/apply-suggestions/applied.jsonl", &r.stdout);
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    assert_golden(
        "golden/apply-suggestions/positive.txt",
        &read("positive.txt"),
    );
    assert_golden(
        "golden/apply-suggestions/negative.txt",
        &read("negative.txt"),
    );
    assert_eq!(read("positive.txt").lines().count(), 3);
    assert_eq!(
        read("negative.txt"),
        std::fs::read_to_string(refinery_testkit::fixture("suggest/negative.txt")).unwrap()
    );
}

#[test]
fn files_of_different_lengths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        BIN,
        &[
            "--positive",
            "suggest/positive.txt",
            "--negative",
            "suggest/one.txt",
            "--out",
            dir.path().to_str().unwrap(),
            "suggest/suggestions.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(r.stderr.contains("counts must agree"), "{}", r.stderr);
}
