//! expand-probes on the shipped probe files, probe-candidates on replies of
//! every kind, and the probe-file errors.

use refinery_testkit::{assert_golden, run};

const EXPAND: &str = env!("CARGO_BIN_EXE_expand-probes");
const COLLECT: &str = env!("CARGO_BIN_EXE_probe-candidates");
const SHIPPED: &str = "../pipelines/probes/scenarios/affect_archetypes";

#[test]
fn the_shipped_probes_expand_the_same_way_every_time() {
    let r = run(EXPAND, &["--seed", "1", "--per-setup", "2", SHIPPED], None);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("56 prompts from 7 probe files"),
        "{}",
        r.stderr
    );
    assert_golden("golden/probes/scenarios.jsonl", &r.stdout);
    let again = run(EXPAND, &["--seed", "1", "--per-setup", "2", SHIPPED], None);
    assert_eq!(again.stdout, r.stdout);
    let other = run(EXPAND, &["--seed", "2", "--per-setup", "2", SHIPPED], None);
    assert_ne!(other.stdout, r.stdout, "the seed changes the slot values");
}

#[test]
fn replies_become_candidates_and_every_row_is_accounted_for() {
    let r = run(
        COLLECT,
        &["--rejects", "/dev/null", "probes/responses.jsonl"],
        None,
    );
    assert_eq!(r.status, 1, "one row has no response: {}", r.stderr);
    assert_golden("golden/probes/candidates.jsonl", &r.stdout);
    assert!(
        r.stderr
            .contains("left out: 1 refusals, 1 empty, 1 shorter than 8 characters, 1 duplicates"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("8 read, 3 written, 4 filtered, 1 rejected"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_row_without_a_reply_is_named() {
    let r = run(COLLECT, &["probes/responses.jsonl"], None);
    assert_eq!(r.status, 1);
    assert!(
        r.stderr
            .contains("probes/responses.jsonl:8: response: missing (run generate first)"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_probe_files_are_named() {
    let r = run(EXPAND, &["probes/bad/unknown_slot.json"], None);
    assert_eq!(r.status, 2);
    assert!(
        r.stderr.contains("unknown_slot.json")
            && r.stderr.contains("setup 0: slot {what} is not defined"),
        "{}",
        r.stderr
    );
    let r = run(EXPAND, &["probes/bad/cautious.json"], None);
    assert_eq!(r.status, 2);
    assert!(
        r.stderr
            .contains("archetype \"cautious\" is not in the mapping file"),
        "{}",
        r.stderr
    );
}
