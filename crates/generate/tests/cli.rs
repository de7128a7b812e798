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

/// A chat template that writes `{{ bos_token }}` in a model whose tokenizer
/// also adds BOS (the Llama 3 GGUF set-up) gets one BOS, not two.
#[test]
fn one_bos_when_template_and_tokenizer_both_add_it() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = fixture("models/tiny");
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tiny.join("lm.json")).unwrap()).unwrap();
    let mut counts = Vec::new();
    for (name, add_bos, template_bos) in [
        ("neither", false, false),
        ("tokenizer", true, false),
        ("template", false, true),
        ("both", true, true),
    ] {
        let model = dir.path().join(name);
        std::fs::create_dir(&model).unwrap();
        for file in ["model.onnx", "tokenizer.json"] {
            std::fs::copy(tiny.join(file), model.join(file)).unwrap();
        }
        let mut lm = base.clone();
        lm["bos_token_id"] = 0.into();
        lm["add_bos_token"] = add_bos.into();
        let template = base["chat_template"].as_str().unwrap();
        lm["chat_template"] = if template_bos {
            format!("{{{{ bos_token }}}}{template}")
        } else {
            template.to_string()
        }
        .into();
        std::fs::write(model.join("lm.json"), lm.to_string()).unwrap();
        let r = run(
            BIN,
            &[
                "--model",
                model.to_str().unwrap(),
                "--chat",
                "--max-new-tokens",
                "1",
                "generate/one_prompt.jsonl",
            ],
            None,
        );
        assert_eq!(r.status, 0, "{name}: {}", r.stderr);
        let row: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        counts.push(row["prompt_token_count"].as_u64().unwrap());
    }
    let n = counts[0];
    assert_eq!(
        counts,
        [n, n + 1, n + 1, n + 1],
        "one BOS wherever it comes from"
    );
}
