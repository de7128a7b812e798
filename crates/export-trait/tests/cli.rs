//! CLI tests: `export-trait` on a refined trait's rows, and the files it
//! writes read back by `vet-score --responses` and `first-tokens --responses`
//! (sibling binaries, built by `cargo test --workspace`).

use std::path::{Path, PathBuf};

use refinery_testkit::{assert_golden, fixture, run};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_export-trait");

fn sibling(name: &str) -> PathBuf {
    let path = PathBuf::from(BIN).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo test --workspace`",
        path.display()
    );
    path
}

fn export(out: &Path) -> refinery_testkit::Run {
    let rejects = out.with_extension("rejects.jsonl");
    run(
        BIN,
        &[
            "--definition",
            "export/sycophancy/definition.txt",
            "--out",
            out.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "export/refined.jsonl",
        ],
        None,
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn writes_the_passing_pairs_in_trait_interps_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sycophancy");
    let r = export(&out);
    // One row has no pair: rejected, so exit 1 after writing everything else.
    assert_eq!(r.status, 1, "{}", r.stderr);
    let rejected = read(&out.with_extension("rejects.jsonl"));
    assert!(
        rejected.contains(r#""line":6"#) && rejected.contains("no `pair`"),
        "{rejected}"
    );
    assert!(
        r.stderr.contains("2 of 4 pairs passed every stage"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("10 read, 6 written, 3 filtered, 1 rejected"),
        "{}",
        r.stderr
    );
    assert_golden("golden/export-trait/passed.jsonl", &r.stdout);
    for file in [
        "positive.txt",
        "negative.txt",
        "responses/pos.json",
        "responses/neg.json",
        "vetting/scenario_scores.json",
        "vetting/response_scores.json",
    ] {
        assert_golden(
            &format!("golden/export-trait/{file}"),
            &read(&out.join(file)),
        );
    }
    // Same input, same bytes.
    let again = dir.path().join("again");
    export(&again);
    for file in ["responses/pos.json", "vetting/response_scores.json"] {
        assert_eq!(read(&out.join(file)), read(&again.join(file)));
    }
}

#[test]
fn the_files_read_back_as_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sycophancy");
    export(&out);
    let r = run(
        sibling("vet-score").to_str().unwrap(),
        &[
            "--stage",
            "response",
            "--judge",
            "likelihood",
            "--model",
            "models/tiny",
            "--definition",
            "export/sycophancy/definition.txt",
            "--responses",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let back: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The exported rows, in the files' order: positives then negatives,
    // rollout-major; pairs renumbered 0, 1.
    let exported: Vec<Value> = read(&fixture("golden/export-trait/passed.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut expected: Vec<&Value> = exported.iter().collect();
    expected.sort_by_key(|r| {
        (
            r["polarity"] != "positive",
            r["rollout"].as_u64(),
            r["pair"].as_u64(),
        )
    });
    assert_eq!(back.len(), expected.len());
    for (b, e) in back.iter().zip(expected) {
        for field in ["prompt", "response", "polarity", "trait"] {
            assert_eq!(b[field], e[field], "{field}: {b} vs {e}");
        }
        assert_eq!(b["system_prompt"], e["system_prompt"], "{b}");
        assert!(b["response_vet"]["verdict"].is_string(), "{b}");
    }
    let pairs: Vec<u64> = back.iter().map(|b| b["pair"].as_u64().unwrap()).collect();
    assert_eq!(pairs, [0, 1, 2, 0, 1, 2]);

    let ft = run(
        sibling("first-tokens").to_str().unwrap(),
        &[
            "--model",
            "models/tiny",
            "--definition",
            "export/sycophancy/definition.txt",
            "-k",
            "2",
            "--responses",
            out.join("responses").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(ft.status, 0, "{}", ft.stderr);
    assert_eq!(ft.stdout.lines().count(), 6);
    assert!(ft.stderr.contains("6 read, 6 written"), "{}", ft.stderr);
}

#[test]
fn a_responses_file_that_is_not_a_list_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pos.json"), "[]").unwrap();
    std::fs::write(dir.path().join("neg.json"), "[\n  {\"prompt\": \"a\",\n").unwrap();
    let r = run(
        sibling("vet-score").to_str().unwrap(),
        &[
            "--stage",
            "response",
            "--model",
            "models/tiny",
            "--definition",
            "export/sycophancy/definition.txt",
            "--responses",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("neg.json:3") && r.stderr.contains("not valid JSON"),
        "{}",
        r.stderr
    );
}

#[test]
fn unequal_rollouts_duplicates_and_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    std::fs::create_dir_all(out.join("vetting")).unwrap();
    std::fs::write(out.join("vetting/scenario_scores.json"), "{}").unwrap();
    let rows = [
        r#"{"prompt":"a","polarity":"positive","pair":0,"rollout":0,"response":"x"}"#,
        r#"{"prompt":"b","polarity":"negative","pair":0,"rollout":0,"response":"y"}"#,
        r#"{"prompt":"a","polarity":"positive","pair":0,"rollout":1,"response":"z"}"#,
        r#"{"prompt":"c","polarity":"positive","pair":1,"response":"x"}"#,
        r#"{"prompt":"d","polarity":"negative","pair":1,"response":"y"}"#,
        r#"{"prompt":"d","polarity":"negative","pair":1,"response":"w"}"#,
        r#"{"prompt":" e","polarity":"negative","pair":2,"response":"w"}"#,
    ]
    .join("\n");
    let r = run(
        BIN,
        &[
            "--definition",
            "export/sycophancy/definition.txt",
            "--out",
            out.to_str().unwrap(),
            "--rejects",
            "/dev/null",
        ],
        Some(rows.as_bytes()),
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    // Pair 0's sides hold different rollouts; pair 1's second negative and
    // the padded prompt are rejected.
    assert!(
        r.stderr
            .contains("7 read, 2 written, 3 filtered, 2 rejected"),
        "{}",
        r.stderr
    );
    assert_eq!(read(&out.join("positive.txt")), "c\n");
    assert_eq!(read(&out.join("negative.txt")), "d\n");
    assert!(
        !out.join("vetting/scenario_scores.json").exists(),
        "the rows carry no scenario_vet: an old summary would describe other pairs"
    );
}
