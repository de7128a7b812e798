//! `expand-scenarios --backend openai` against a scripted loopback endpoint:
//! what it asks the server, duplicates and failed requests dropped, pairs
//! aligned, the same pairs for the same seed.

use refinery_testkit::fake_server::{FakeServer, Reply, Seen};
use refinery_testkit::run;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_expand-scenarios");

/// A completions answer whose line ended.
fn line(text: &str) -> Reply {
    Reply::Json(
        200,
        json!({"choices": [{"index": 0, "text": text, "finish_reason": "stop"}]}),
    )
}

/// Positives from 6 texts (so some repeat), negatives from the seed; a
/// seed divisible by 5 fails.
fn script(seen: &Seen) -> Reply {
    let body = seen.json();
    let prompt = body["prompt"].as_str().unwrap_or_default();
    let seed = body["seed"].as_u64().unwrap_or(0);
    if seed.is_multiple_of(5) {
        return Reply::Json(500, json!({"error": "boom"}));
    }
    if prompt.ends_with("\nNegative:") {
        line(&format!(" She wanted honesty about draft {seed}, so I"))
    } else {
        line(&format!(" He showed me draft {} and I\n", seed % 6))
    }
}

fn expand(url: &str, seed: &str) -> refinery_testkit::Run {
    run(
        BIN,
        &[
            "--backend",
            "openai",
            "--base-url",
            url,
            "--api-model",
            "fake-model",
            "--max-retries",
            "0",
            "--positive",
            "expand/positive.txt",
            "--negative",
            "expand/negative.txt",
            "--shots",
            "2",
            "-n",
            "4",
            "--seed",
            seed,
        ],
        None,
    )
}

#[test]
fn new_pairs_over_the_api_are_checked_and_reproducible() {
    let server = FakeServer::start(script);
    let r = expand(&server.url, "3");
    assert_eq!(r.status, 0, "{}", r.stderr);
    let rows: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Only 6 distinct positives exist: fewer than asked or exactly, never a repeat.
    assert!(!rows.is_empty(), "{}", r.stdout);
    let mut seen = std::collections::HashSet::new();
    for (i, pair) in rows.chunks(2).enumerate() {
        assert_eq!(pair[0]["polarity"], "positive");
        assert_eq!(pair[1]["polarity"], "negative");
        for row in pair {
            assert_eq!(row["pair"], i);
            assert_eq!(row["generated"]["model"], "fake-model");
            assert_eq!(row["generated"]["seed"], 3);
            assert!(
                seen.insert(row["prompt"].as_str().unwrap().to_string()),
                "{row}"
            );
        }
        assert!(pair[0]["prompt"]
            .as_str()
            .unwrap()
            .starts_with("He showed me draft"));
    }
    assert_eq!(rows.len(), 8, "{}", r.stderr);
    // With this seed both happen (seeds are fixed by --seed and the attempt).
    assert!(r.stderr.contains("a duplicate"), "{}", r.stderr);
    assert!(r.stderr.contains("a failed request"), "{}", r.stderr);
    let requests = server.requests();
    assert!(
        requests.iter().all(|s| s.path == "/v1/completions"),
        "raw text, not chat"
    );
    for s in &requests {
        let body = s.json();
        assert_eq!(body["stop"], json!(["\n"]));
        assert_eq!(body["model"], "fake-model");
        let prompt = body["prompt"].as_str().unwrap();
        assert!(
            prompt.ends_with("Positive:") || prompt.ends_with("\nNegative:"),
            "{prompt}"
        );
    }
    let again = expand(&server.url, "3");
    assert_eq!(again.stdout, r.stdout, "same seed, same pairs");
    let other = expand(&server.url, "4");
    assert_ne!(other.stdout, r.stdout, "another seed, other pairs");
}

#[test]
fn api_options_need_the_openai_backend() {
    let r = run(
        BIN,
        &[
            "--api-model",
            "x",
            "--positive",
            "expand/positive.txt",
            "--negative",
            "expand/negative.txt",
        ],
        None,
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(r.stderr.contains("need --backend openai"), "{}", r.stderr);
}
