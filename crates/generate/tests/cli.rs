//! CLI tests: `generate` on the tiny random-weight model in testdata/models.

use std::process::Command;

use refinery_testkit::{assert_golden, fixture, run};

const BIN: &str = env!("CARGO_BIN_EXE_generate");
const TINY: [&str; 2] = ["--model", "models/tiny"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    TINY.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn continues_scenarios_keeping_every_field() {
    let r = run(
        BIN,
        &args(&[
            "--chat",
            "--max-new-tokens",
            "6",
            "generate/scenarios.jsonl",
        ]),
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden("golden/generate/chat.jsonl", &r.stdout);
    assert!(
        r.stderr
            .ends_with("4 read, 4 written, 0 filtered, 0 rejected (1 blank lines skipped)\n"),
        "{}",
        r.stderr
    );
    let raw = run(
        BIN,
        &args(&["--raw", "--max-new-tokens", "6", "generate/scenarios.jsonl"]),
        None,
    );
    assert_eq!(raw.status, 0, "{}", raw.stderr);
    assert_golden("golden/generate/raw.jsonl", &raw.stdout);
}

#[test]
fn output_does_not_depend_on_the_batch_size() {
    let sampled = [
        "--raw",
        "--temperature",
        "0.9",
        "--top-p",
        "0.9",
        "--seed",
        "4",
        "--rollouts",
        "3",
    ];
    let outputs: Vec<String> = ["1", "2", "5", "16"]
        .iter()
        .map(|size| {
            let mut a = args(&sampled);
            a.extend([
                "--max-new-tokens",
                "7",
                "--batch-size",
                size,
                "generate/scenarios.jsonl",
            ]);
            let r = run(BIN, &a, None);
            assert_eq!(r.status, 0, "{}", r.stderr);
            r.stdout
        })
        .collect();
    assert!(outputs.iter().all(|o| o == &outputs[0]));
    assert_eq!(outputs[0].lines().count(), 12);
    assert_golden("golden/generate/sampled.jsonl", &outputs[0]);
}

#[test]
fn trait_interp_pairs_become_rows() {
    let r = run(
        BIN,
        &args(&[
            "--raw",
            "--max-new-tokens",
            "4",
            "--positive",
            "generate/sycophancy/positive.txt",
            "--negative",
            "generate/sycophancy/negative.txt",
        ]),
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden("golden/generate/pairs.jsonl", &r.stdout);
    let first: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["trait"], "sycophancy");
    assert_eq!(first["polarity"], "positive");
}

#[test]
fn bad_rows_name_file_and_line() {
    let r = run(
        BIN,
        &args(&["--raw", "--max-new-tokens", "2", "generate/bad.jsonl"]),
        None,
    );
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.contains("generate/bad.jsonl:2: no `prompt` field"),
        "{}",
        r.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let mut a = args(&[
        "--raw",
        "--max-new-tokens",
        "2",
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    a.push("generate/bad.jsonl");
    let r = run(BIN, &a, None);
    assert_eq!(r.status, 1);
    assert_eq!(r.stdout.lines().count(), 1);
    assert!(
        r.stderr
            .contains("4 read, 1 written, 0 filtered, 3 rejected\n"),
        "{}",
        r.stderr
    );
    let reasons = std::fs::read_to_string(rejects).unwrap();
    assert!(
        reasons.contains("`prompt` is a number, expected a string"),
        "{reasons}"
    );
    assert!(
        reasons.contains("`system_prompt` is an array, expected a string"),
        "{reasons}"
    );
}

#[test]
fn long_prompts_are_truncated_with_a_warning_or_rejected() {
    let long = format!("{{\"prompt\": \"{}\"}}\n", "word ".repeat(100));
    let r = run(
        BIN,
        &args(&["--raw", "--max-new-tokens", "4"]),
        Some(long.as_bytes()),
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let row: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(row["prompt_token_count"], 60);
    assert!(row["prompt_tokens_dropped"].as_u64().unwrap() > 0);
    assert!(
        r.stderr
            .contains("warning: 1 prompts did not fit the context"),
        "{}",
        r.stderr
    );
    let r = run(
        BIN,
        &args(&["--raw", "--max-new-tokens", "4", "--no-truncate"]),
        Some(long.as_bytes()),
    );
    assert_eq!(r.status, 1);
    assert!(r.stderr.contains("<stdin>:1: prompt is"), "{}", r.stderr);
}

#[test]
fn stop_strings_end_the_response_before_them() {
    let free = run(
        BIN,
        &args(&[
            "--raw",
            "--max-new-tokens",
            "10",
            "generate/scenarios.jsonl",
        ]),
        None,
    );
    let first: serde_json::Value =
        serde_json::from_str(free.stdout.lines().next().unwrap()).unwrap();
    let text = first["response"].as_str().unwrap();
    let stop: String = text.chars().skip(3).take(2).collect();
    let r = run(
        BIN,
        &args(&[
            "--raw",
            "--max-new-tokens",
            "10",
            "--stop",
            &stop,
            "generate/scenarios.jsonl",
        ]),
        None,
    );
    let row: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(row["finish_reason"], "stop");
    assert_eq!(
        row["response"].as_str().unwrap(),
        &text[..text.find(&stop).unwrap()]
    );
}

#[test]
fn missing_runtime_and_wrong_models_are_clear_errors() {
    let out = Command::new(BIN)
        .args(["--model", fixture("models/tiny").to_str().unwrap()])
        .arg(fixture("generate/scenarios.jsonl"))
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "ORT_DYLIB_PATH is set to /nonexistent/libonnxruntime.so, which is not a file"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let r = run(
        BIN,
        &[
            "--model",
            "models/not-a-decoder",
            "generate/scenarios.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 2);
    assert!(
        r.stderr
            .contains("not a decoder this tool can run: unexpected input `token_type_ids`"),
        "{}",
        r.stderr
    );
    let r = run(
        BIN,
        &["--model", "models/nowhere", "generate/scenarios.jsonl"],
        None,
    );
    assert_eq!(r.status, 2);
    assert!(
        r.stderr.contains("models/nowhere: has no model.onnx"),
        "{}",
        r.stderr
    );
    let r = run(
        BIN,
        &args(&["--temperature=-1", "generate/scenarios.jsonl"]),
        None,
    );
    assert_eq!(r.status, 2);
    assert!(
        r.stderr.contains("temperature must be >= 0"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_cache_does_not_change_greedy_output() {
    let with = run(
        BIN,
        &args(&["--raw", "--max-new-tokens", "8", "generate/scenarios.jsonl"]),
        None,
    );
    let without = run(
        BIN,
        &args(&[
            "--raw",
            "--max-new-tokens",
            "8",
            "--no-kv-cache",
            "generate/scenarios.jsonl",
        ]),
        None,
    );
    assert_eq!(with.status, 0, "{}", with.stderr);
    assert_eq!(with.stdout, without.stdout);
}
