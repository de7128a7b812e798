//! CLI tests: `first-tokens` on the tiny random-weight model.

use refinery_testkit::{assert_golden, run};

const BIN: &str = env!("CARGO_BIN_EXE_first-tokens");

/// The LM judge on the tiny model with the tiny template (its 64-token
/// context holds it), k = 3, then `extra`, reading vet/responses.jsonl
/// (one row of which has no polarity: exit 1).
fn lm_judge_run(extra: &[&str]) -> refinery_testkit::Run {
    let mut args = vec![
        "--model",
        "models/tiny",
        "--definition",
        "vet/definition.txt",
        "--trait",
        "sycophancy",
        "-k",
        "3",
        "--judge",
        "lm",
        "--min-mass",
        "0",
        "--raw",
        "--template",
        "vet/tiny_template.txt",
    ];
    args.extend_from_slice(extra);
    args.extend(["--rejects", "/dev/null", "vet/responses.jsonl"]);
    run(BIN, &args, None)
}

#[test]
fn splits_first_tokens_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.md");
    let r = lm_judge_run(&["--review", "--report", report.to_str().unwrap()]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert_golden("golden/first-tokens/out.jsonl", &r.stdout);
    assert_golden(
        "golden/first-tokens/report.md",
        &std::fs::read_to_string(report).unwrap(),
    );
    assert!(r.stderr.contains("  0 positive "), "{}", r.stderr);
    let mut scored = 0;
    for line in r.stdout.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let ft = &row["first_tokens"];
        assert_eq!(ft["ids"].as_array().unwrap().len(), 3);
        let pieces: String = ft["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(pieces, ft["text"].as_str().unwrap());
        // The tiny model's 64-token context cannot hold every judge prompt:
        // those scores are null and the verdict is `error`.
        match (ft["prefix_score"].as_f64(), ft["with_first_score"].as_f64()) {
            (Some(a), Some(b)) => {
                let d = if row["polarity"] == "negative" {
                    -1.0
                } else {
                    1.0
                };
                let signal = ft["signal"].as_f64().unwrap();
                assert!((signal - d * (b - a) / 100.0).abs() < 0.002, "{line}");
                assert_eq!(
                    ft["verdict"],
                    if signal >= 0.1 {
                        "express"
                    } else {
                        "committed"
                    }
                );
                scored += 1;
            }
            _ => assert_eq!(ft["verdict"], "error"),
        }
        assert!(row["response"]
            .as_str()
            .unwrap()
            .starts_with(ft["text"].as_str().unwrap()));
    }
    assert!(scored >= 2, "too few rows were scored to check the signal");
}

#[test]
fn the_likelihood_judge_runs_the_delete_test_and_the_self_check() {
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
            "-k",
            "2",
            "--rejects",
            "/dev/null",
            "vet/responses.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 1, "one row has no polarity: {}", r.stderr);
    assert!(
        r.stderr.contains("self-check (first tokens)"),
        "{}",
        r.stderr
    );
    for line in r.stdout.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let ft = &row["first_tokens"];
        assert_eq!(ft["judge"], "likelihood:tiny");
        if ft["verdict"] != "error" {
            let score = ft["with_first_score"].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&score), "{line}");
        }
    }
}

/// Token ids written by another model's tokenizer are not read with the
/// judge's: the first tokens come from the response text instead.
#[test]
fn ids_from_another_model_are_not_decoded_with_the_judges_tokenizer() {
    let rows = "{\"prompt\": \"He asked, so I\", \"polarity\": \"positive\", \"response\": \" told him it was brilliant.\", \"model\": \"another-model\", \"response_token_ids\": [5, 6, 7, 8, 9, 10]}\n\
                {\"prompt\": \"He asked, so I\", \"polarity\": \"positive\", \"response\": \" told him it was brilliant.\", \"model\": \"tiny\", \"response_token_ids\": [5, 6, 7, 8, 9, 10]}\n";
    let r = run(
        BIN,
        &[
            "--model",
            "models/tiny",
            "--definition",
            "vet/definition.txt",
            "--trait",
            "sycophancy",
            "-k",
            "2",
        ],
        Some(rows.as_bytes()),
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let firsts: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["first_tokens"].clone())
        .collect();
    let text = firsts[0]["text"].as_str().unwrap();
    assert!(
        " told him it was brilliant.".starts_with(text) && !text.is_empty(),
        "{text:?}"
    );
    // The judge's own model's ids are used as they are.
    assert_eq!(firsts[1]["ids"], serde_json::json!([5, 6]));
}

#[test]
fn each_run_adds_a_round_to_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    let report = dir.path().join("report.md");
    for _ in 0..2 {
        let r = lm_judge_run(&[
            "--history",
            history.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]);
        assert_eq!(r.status, 1, "{}", r.stderr);
    }
    let text = std::fs::read_to_string(&history).unwrap();
    assert_golden("golden/first-tokens/history.jsonl", &text);
    let rounds: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rounds.len(), 2);
    assert_eq!(rounds[1]["round"], 2);
    // The same input twice: the same counts.
    for key in ["rows", "pairs", "express", "pairs_passed", "self_check"] {
        assert_eq!(rounds[0][key], rounds[1][key], "{key}");
    }
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("## Rounds"), "{md}");
    assert!(md.contains("\n| 2 | "), "{md}");
}

#[test]
fn committed_positives_get_a_checked_cut() {
    let dir = tempfile::tempdir().unwrap();
    let suggestions = dir.path().join("suggestions.jsonl");
    let report = dir.path().join("report.md");
    let r = lm_judge_run(&[
        "--generator",
        "models/tiny",
        "--suggest",
        suggestions.to_str().unwrap(),
        "--pos-threshold",
        "0",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    let text = std::fs::read_to_string(&suggestions).unwrap();
    assert_golden("golden/first-tokens/suggestions.jsonl", &text);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let checked: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let committed = checked
        .iter()
        .filter(|c| c["polarity"] == "positive" && c["first_tokens"]["verdict"] == "committed")
        .count();
    assert!(committed > 0, "the fixture has committed positives");
    let cuts: Vec<&serde_json::Value> = rows.iter().filter(|s| s["kind"] == "cut").collect();
    assert_eq!(cuts.len(), committed);
    let mut suggested = 0;
    for s in cuts {
        assert!(s["cuts_tried"].as_u64().unwrap() > 0, "{s}");
        let Some(after) = s["after"].as_str() else {
            assert_eq!(s["accept"], false);
            continue;
        };
        suggested += 1;
        let before = s["before"].as_str().unwrap();
        // A cut at a word boundary, checked: it passes vetting and its
        // first tokens carry more signal than before.
        assert!(
            before.starts_with(after) && before[after.len()..].starts_with(' '),
            "{s}"
        );
        assert_eq!(before[after.len()..].trim(), s["removed"]);
        assert!(s["after_prompt_score"].as_f64().unwrap() >= 0.0, "{s}");
        let (b, a) = (
            s["before_signal"].as_f64(),
            s["after_signal"].as_f64().unwrap(),
        );
        assert!(b.is_none_or(|b| a > b), "{s}");
        assert_eq!(s["accept"], a >= 0.1, "{s}");
        assert_eq!(s["express"], a >= 0.1, "{s}");
    }
    assert!(suggested > 0, "{text}");
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("## Suggested fixes"), "{md}");
}

#[test]
fn an_ignored_lock_in_gets_checked_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let suggestions = dir.path().join("suggestions.jsonl");
    let args = [
        "--model",
        "models/tiny",
        "--definition",
        "vet/definition.txt",
        "--trait",
        "sycophancy",
        "-k",
        "3",
        "--raw",
        "--generator",
        "models/tiny",
        "--suggest",
        suggestions.to_str().unwrap(),
        "--rewrites",
        "3",
        "first_tokens/lock_in.jsonl",
    ];
    let r = run(BIN, &args, None);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&suggestions).unwrap();
    assert_golden("golden/first-tokens/rewrites.jsonl", &text);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "one a pair: {text}");
    // Each positive's scenario passed and its response failed: an ignored
    // lock-in whatever its first tokens (some are `committed` here).
    for s in &rows {
        assert_eq!(s["kind"], "ignored_lock_in", "{s}");
        // The tiny model's random text seldom ends a line: those rewrites are
        // cut off and dropped (scripts/test-real-model.sh checks real ones).
        assert_eq!(s["rewrites_asked"], 3, "{s}");
        assert!(s["rewrites_tried"].as_u64().unwrap() <= 3, "{s}");
        match s["after"].as_str() {
            // Checked: reads as a positive, its response beats the old one.
            Some(after) => {
                assert_ne!(after, s["before"], "{s}");
                assert!(s["after_prompt_score"].as_f64().unwrap() >= 60.0, "{s}");
                let accept =
                    s["express"] == true && s["after_response_score"].as_f64() >= Some(60.0);
                assert_eq!(s["accept"], accept, "{s}");
            }
            None => assert_eq!(s["accept"], false, "{s}"),
        }
    }
    // The same run writes the same rewrites.
    let again = dir.path().join("again.jsonl");
    let mut args2 = args;
    let at = args.iter().position(|a| *a == "--suggest").unwrap() + 1;
    args2[at] = again.to_str().unwrap();
    assert_eq!(run(BIN, &args2, None).status, 0);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
}
