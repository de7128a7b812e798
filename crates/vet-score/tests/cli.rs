//! CLI tests: `vet-score` on the tiny random-weight model (the scores mean
//! nothing; the arithmetic, verdicts, pairing and summary are what is checked).

use refinery_testkit::{assert_golden, run};

const BIN: &str = env!("CARGO_BIN_EXE_vet-score");

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    // The random model puts little mass on numbers (--min-mass 0 lets it
    // score) and has a 64-token context (a short template, no chat format).
    let mut a = vec![
        "--judge",
        "lm",
        "--model",
        "models/tiny",
        "--raw",
        "--template",
        "vet/tiny_template.txt",
        "--definition",
        "vet/definition.txt",
        "--trait",
        "sycophancy",
        "--min-mass",
        "0",
        "--words",
        "4",
    ];
    a.extend_from_slice(extra);
    a
}

#[test]
fn scores_responses_with_verdicts_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("response_scores.json");
    let rejects = dir.path().join("rejects.jsonl");
    let r = run(
        BIN,
        &args(&[
            "--stage",
            "response",
            "--pos-threshold",
            "50",
            "--neg-threshold",
            "45",
            "--summary",
            summary.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "vet/responses.jsonl",
        ]),
        None,
    );
    assert_eq!(r.status, 1, "one row has no polarity: {}", r.stderr);
    assert_golden("golden/vet-score/responses.jsonl", &r.stdout);
    assert_golden(
        "golden/vet-score/response_scores.json",
        &std::fs::read_to_string(&summary).unwrap(),
    );
    assert!(
        r.stderr
            .contains("5 read, 4 written, 0 filtered, 1 rejected (1 blank lines skipped)"),
        "{}",
        r.stderr
    );
    assert!(std::fs::read_to_string(rejects)
        .unwrap()
        .contains("\"line\":6,\"reason\":\"no `polarity`"));
    for line in r.stdout.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let vet = &row["response_vet"];
        let score = vet["score"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&score));
        let expected = match (row["polarity"].as_str().unwrap(), score) {
            ("positive", s) if s >= 50.0 => "pass",
            ("positive", s) if s <= 45.0 => "fail",
            ("negative", s) if s <= 45.0 => "pass",
            ("negative", s) if s >= 50.0 => "fail",
            _ => "ambiguous",
        };
        assert_eq!(vet["verdict"], expected, "{line}");
    }
}

#[test]
fn paired_fails_both_sides_and_the_mass_floor_gives_errors() {
    let both_pass = run(
        BIN,
        &args(&[
            "--stage",
            "response",
            "--pos-threshold",
            "0",
            "--neg-threshold",
            "0",
            "vet/responses.jsonl",
            "--rejects",
            "/dev/null",
        ]),
        None,
    );
    let verdicts: Vec<String> = both_pass
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["response_vet"]["verdict"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        verdicts,
        ["pass", "fail", "pass", "fail"],
        "positives pass at >= 0, negatives fail above 0"
    );
    let paired = run(
        BIN,
        &args(&[
            "--stage",
            "response",
            "--paired",
            "--pos-threshold",
            "0",
            "--neg-threshold",
            "0",
            "vet/responses.jsonl",
            "--rejects",
            "/dev/null",
        ]),
        None,
    );
    for line in paired.stdout.lines() {
        let vet = serde_json::from_str::<serde_json::Value>(line).unwrap()["response_vet"].clone();
        assert_eq!(vet["verdict"], "fail", "{line}");
    }
    assert!(paired.stdout.contains("\"failed_by_pair\":true"));
    let floor_args = [
        "--judge",
        "lm",
        "--model",
        "models/tiny",
        "--raw",
        "--template",
        "vet/tiny_template.txt",
        "--definition",
        "vet/definition.txt",
        "--stage",
        "response",
        "--rejects",
        "/dev/null",
        "--words",
        "4",
        "--min-mass",
        "1.01",
    ];
    let floor = run(
        BIN,
        &[&floor_args[..], &["vet/responses.jsonl"]].concat(),
        None,
    );
    for line in floor.stdout.lines() {
        let vet = serde_json::from_str::<serde_json::Value>(line).unwrap()["response_vet"].clone();
        assert_eq!(vet["verdict"], "error");
        assert!(vet["score"].is_null());
        assert!(vet["error"]
            .as_str()
            .unwrap()
            .contains("of the judge's probability is on the integers 0..100"));
    }
}

#[test]
fn scenario_stage_reads_trait_interp_files() {
    let r = run(
        BIN,
        &args(&[
            "--stage",
            "scenario",
            "--positive",
            "generate/sycophancy/positive.txt",
            "--negative",
            "generate/sycophancy/negative.txt",
        ]),
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden("golden/vet-score/scenarios.jsonl", &r.stdout);
    assert!(
        r.stderr.contains("positive: ") && r.stderr.contains("negative: "),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_and_config_errors() {
    let r = run(
        BIN,
        &args(&[
            "--stage",
            "response",
            "--pos-threshold",
            "30",
            "--neg-threshold",
            "40",
            "vet/responses.jsonl",
        ]),
        None,
    );
    assert_eq!(r.status, 2);
    assert!(r
        .stderr
        .contains("--neg-threshold must not be above --pos-threshold"));
    let r = run(
        BIN,
        &[
            "--stage",
            "response",
            "--judge",
            "embed",
            "--model",
            "models/tiny",
            "--definition",
            "vet/definition.txt",
            "vet/responses.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(r.stderr.contains("expected an encoder"), "{}", r.stderr);
}

/// Positives and negatives with the same text: no judge can tell them
/// apart, so every run must say its verdicts are not evidence.
#[test]
fn a_judge_that_cannot_separate_gets_the_warning() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("scores.json");
    for judge in ["lm", "likelihood"] {
        // args() chooses the lm judge: this test chooses for itself.
        let mut a = args(&[]);
        a.drain(..2);
        let r = run(
            BIN,
            &[
                &a[..],
                &[
                    "--quiet",
                    "--judge",
                    judge,
                    "--stage",
                    "scenario",
                    "--positive",
                    "vet/same_pairs/positive.txt",
                    "--negative",
                    "vet/same_pairs/negative.txt",
                    "--summary",
                    summary.to_str().unwrap(),
                ],
            ]
            .concat(),
            None,
        );
        assert_eq!(r.status, 0, "{}", r.stderr);
        assert!(
            r.stderr.contains(
                "self-check (scenario stage): AUC 0.50 of positive vs negative scores, mean gap +0.0 points, 0/8 pairs with the positive above its negative (8 positives, 8 negatives scored): WARNING: this judge cannot tell"
            ),
            "{judge}: the warning is printed even with --quiet: {}",
            r.stderr
        );
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        let check = &s["self_check"];
        assert_eq!(check["auc"], 0.5);
        assert_eq!(check["finding"], "cannot_separate");
        assert_eq!(check["stage"], "scenario");
        assert_eq!(
            (check["positives"].as_u64(), check["negatives"].as_u64()),
            (Some(8), Some(8))
        );
        assert!(check["judge"].as_str().unwrap().starts_with(judge));
        // trait-interp's keys stay as they were.
        assert_eq!(
            s["summary"]["positive_passed"].as_u64().unwrap()
                + s["summary"]["positive_failed"].as_u64().unwrap(),
            8
        );
    }
}

#[test]
fn the_likelihood_judge_scores_scenarios_and_responses() {
    for (stage, golden) in [
        ("scenario", "golden/vet-score/likelihood_scenarios.jsonl"),
        ("response", "golden/vet-score/likelihood_responses.jsonl"),
    ] {
        let r = run(
            BIN,
            &[
                "--model",
                "models/tiny",
                "--judge",
                "likelihood",
                "--definition",
                "vet/definition.txt",
                "--trait",
                "sycophancy",
                "--stage",
                stage,
                // The tiny model's context is 64 tokens.
                "--no-prefix",
                "--words",
                "3",
                "--rejects",
                "/dev/null",
                "vet/responses.jsonl",
            ],
            None,
        );
        assert_eq!(r.status, 1, "one row has no polarity: {}", r.stderr);
        assert_golden(golden, &r.stdout);
        for line in r.stdout.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let vet = &row[format!("{stage}_vet")];
            let score = vet["score"].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&score), "{line}");
            assert_eq!(vet["judge"], "likelihood:tiny");
            assert!(vet["mass"].is_null());
        }
        assert!(r.stderr.contains("self-check"), "{}", r.stderr);
    }
    // A definition without a LOW band cannot be used.
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("definition.txt");
    std::fs::write(
        &def,
        "HIGH (70-100): flattery, \"what a brilliant idea\".\n",
    )
    .unwrap();
    let r = run(
        BIN,
        &[
            "--model",
            "models/tiny",
            "--judge",
            "likelihood",
            "--definition",
            def.to_str().unwrap(),
            "--trait",
            "t",
            "--stage",
            "scenario",
            "vet/responses.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("needs phrases for the LOW band"),
        "{}",
        r.stderr
    );
}

#[test]
fn coherence_flags_loops_and_empty_responses() {
    let r = run(
        BIN,
        &[
            "--quiet",
            "--stage",
            "response",
            "--coherence",
            "--min-coherence",
            "0",
            "--judge",
            "likelihood",
            "--model",
            "models/tiny",
            "--definition",
            "vet/definition.txt",
            "coherence/responses.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let rows: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdicts: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r["coherence"]["verdict"].as_str().unwrap(),
                r["coherence"]["reason"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("coherent", None),
            ("incoherent", Some("repeats itself")),
            ("incoherent", Some("empty")),
        ]
    );
    // 14 words, 12 trigrams, the last 8 seen before.
    assert_eq!(rows[1]["coherence"]["repeated"], 0.667);
    assert_eq!(rows[2]["coherence"]["score"], serde_json::Value::Null);
    let usage = run(
        BIN,
        &[
            "--stage",
            "scenario",
            "--coherence",
            "--model",
            "models/tiny",
            "--definition",
            "vet/definition.txt",
            "coherence/responses.jsonl",
        ],
        None,
    );
    assert_eq!(usage.status, 2, "{}", usage.stderr);
    assert!(
        usage.stderr.contains("--stage response"),
        "{}",
        usage.stderr
    );
}
