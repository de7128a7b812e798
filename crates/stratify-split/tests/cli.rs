//! CLI tests of `stratify-split` against golden files.

use refinery_testkit::{assert_golden, run};

const BIN: &str = env!("CARGO_BIN_EXE_stratify-split");
const SAMPLE: &str = "../pipelines/sample/run002_plus_goe.sample.jsonl";

#[test]
fn exact_split_with_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let r = run(
        BIN,
        &[
            "--seed",
            "3",
            "--group-by",
            "session_id",
            "--report",
            report.to_str().unwrap(),
            SAMPLE,
        ],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden("golden/stratify-split/sample.jsonl", &r.stdout);
    assert_golden(
        "golden/stratify-split/sample.report.json",
        &std::fs::read_to_string(&report).unwrap(),
    );
    let text = run(
        BIN,
        &["--seed", "3", "--group-by", "session_id", SAMPLE],
        None,
    );
    assert_golden("golden/stratify-split/sample.report.txt", &text.stderr);
}

#[test]
fn out_dir_writes_one_file_per_split() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        BIN,
        &[
            "--seed",
            "3",
            "--quiet",
            "--out-dir",
            dir.path().to_str().unwrap(),
            SAMPLE,
        ],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let lines = |s: &str| {
        std::fs::read_to_string(dir.path().join(format!("{s}.jsonl")))
            .unwrap()
            .lines()
            .count()
    };
    // 282 rows at 0.8/0.1/0.1: 225.6 / 28.2 / 28.2, each split within a row.
    assert_eq!((lines("train"), lines("dev"), lines("test")), (226, 28, 28));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "no temporary files left: {names:?}");
}

#[test]
fn resplitting_replaces_the_split_field_in_place() {
    let once = run(BIN, &["--seed", "1", "--quiet", SAMPLE], None);
    let twice = run(
        BIN,
        &[
            "--seed", "2", "--quiet", "--splits", "a,b", "--ratios", "0.5,0.5",
        ],
        Some(once.stdout.as_bytes()),
    );
    assert_eq!(twice.status, 0, "{}", twice.stderr);
    for line in twice.stdout.lines() {
        assert_eq!(line.matches("\"split\"").count(), 1, "{line}");
        assert!(line.contains("\"split\":\"a\"") || line.contains("\"split\":\"b\""));
    }
}

#[test]
fn usage_errors() {
    for args in [
        &["--ratios", "0.5,0.4"][..],
        &["--ratios", "0.8,0.1,0.2"],
        &["--splits", "a,a", "--ratios", "0.5,0.5"],
        &["--key", "id"],
    ] {
        let r = run(BIN, &[args, &[SAMPLE]].concat(), None);
        assert_eq!(r.status, 2, "{args:?}: {}", r.stderr);
    }
    let r = run(
        BIN,
        &["--mode", "hash", "--key", "id"],
        Some(b"{\"text\":\"x\"}\n"),
    );
    assert_eq!(r.status, 1);
    assert_eq!(
        r.stderr,
        "stratify-split: <stdin>:1: no `id` to hash (--key)\n"
    );
}

#[test]
fn files_and_spooled_stdin_agree() {
    // Both are read twice; the second pass must skip exactly the lines the
    // first one rejected, and blank lines, and stdin must still be named.
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(refinery_testkit::fixture(SAMPLE)).unwrap();
    let mut text = String::new();
    for (i, line) in sample.lines().enumerate() {
        text.push_str(line);
        text.push('\n');
        if i % 50 == 7 {
            text.push_str("{not json\n\n");
        }
    }
    let path = dir.path().join("input.jsonl");
    std::fs::write(&path, &text).unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let args = ["--seed", "9", "--rejects", rejects.to_str().unwrap()];
    let from_file = run(BIN, &[&args[..], &[path.to_str().unwrap()]].concat(), None);
    let from_stdin = run(BIN, &args, Some(text.as_bytes()));
    assert_eq!(from_file.status, 1, "{}", from_file.stderr);
    assert_eq!(from_file.stdout, from_stdin.stdout);
    assert_eq!(from_file.stdout.lines().count(), 282);
    assert!(
        from_file
            .stderr
            .contains("288 read, 282 written, 0 filtered, 6 rejected (6 blank lines skipped)"),
        "{}",
        from_file.stderr
    );
}

/// Field case 09: texts that are the same under Unicode canonical
/// equivalence land in one split for every seed, and the leakage check
/// would count them.
#[test]
fn canonically_equivalent_texts_stay_together() {
    for seed in ["0", "1", "2", "3", "4", "5"] {
        let r = run(
            BIN,
            &["--quiet", "--seed", seed, "unicode/nfc_nfd.jsonl"],
            None,
        );
        assert_eq!(r.status, 0, "{}", r.stderr);
        let split_of = |id: &str| {
            r.stdout
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|row| row["id"] == id)
                .unwrap()["split"]
                .clone()
        };
        assert_eq!(split_of("nfc"), split_of("nfd"), "seed {seed}");
        assert_eq!(
            split_of("greek_upper"),
            split_of("greek_lower"),
            "seed {seed}"
        );
    }
}

/// Field case 07: small strata used to leave the test split empty (32/8/0,
/// 40/0, 24/6/0 with sessions); the splits' totals now follow the ratios.
#[test]
fn no_split_is_left_empty() {
    let totals = |args: &[&str]| -> Vec<u64> {
        let r = run(BIN, args, None);
        assert_eq!(r.status, 0, "{}", r.stderr);
        let mut counts: Vec<(String, u64)> = Vec::new();
        for line in r.stdout.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let split = row["split"].as_str().unwrap().to_string();
            match counts.iter_mut().find(|(s, _)| *s == split) {
                Some((_, n)) => *n += 1,
                None => counts.push((split, 1)),
            }
        }
        let order = ["train", "dev", "test"];
        order
            .iter()
            .filter_map(|s| counts.iter().find(|(name, _)| name == s).map(|(_, n)| *n))
            .collect()
    };
    for seed in ["0", "1", "2"] {
        assert_eq!(
            totals(&[
                "--quiet",
                "--seed",
                seed,
                "split/eight_strata_of_five.jsonl"
            ]),
            [32, 4, 4]
        );
    }
    assert_eq!(
        totals(&[
            "--quiet",
            "--ratios",
            "0.9,0.1",
            "--splits",
            "train,test",
            "split/eight_strata_of_five.jsonl"
        ]),
        [36, 4]
    );
    assert_eq!(
        totals(&[
            "--quiet",
            "--group-by",
            "session_id",
            "split/ten_sessions.jsonl"
        ]),
        [24, 3, 3]
    );
}
