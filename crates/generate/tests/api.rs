//! `generate --backend openai` against a scripted loopback endpoint: the
//! faults a real server produces (429 with Retry-After, 500, a stalled
//! answer, malformed JSON, a dropped connection), error rows, `--resume`,
//! and the API key kept out of everything the tool writes.

use std::time::{Duration, Instant};

use refinery_testkit::fake_server::{completion, FakeServer, Reply, Seen};
use refinery_testkit::run_env;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_generate");
const KEY: &str = "sk-test-7d1f0c9e4b2a48c6a1f3e5d7c9b0a2e4";

/// The prompt of a request, chat or completions.
fn prompt_of(seen: &Seen) -> String {
    let v = seen.json();
    v["prompt"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            v["messages"].as_array()?.last()?["content"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Answers by what the prompt asks for; "echo: <prompt>" otherwise.
fn faulty(seen: &Seen) -> Reply {
    let prompt = prompt_of(seen);
    let ok = Reply::Json(200, completion(true, &format!("echo: {prompt}")));
    let first = seen.attempt == 0;
    match prompt.as_str() {
        "rate limited" if first => Reply::Raw(
            429,
            vec![("Retry-After".into(), "1".into())],
            r#"{"error": {"message": "slow down"}}"#.into(),
        ),
        "flaky" if seen.attempt < 2 => Reply::Json(500, serde_json::json!({"error": "boom"})),
        "always 500" => Reply::Json(500, serde_json::json!({"error": "boom"})),
        "stalls" if first => Reply::Stall(Duration::from_secs(4), Box::new(ok)),
        "junk" if first => Reply::Raw(200, vec![], "{\"choices\": [".into()),
        "hangs up" if first => Reply::Hangup,
        "bad request" => Reply::Raw(
            400,
            vec![],
            format!("{{\"error\": \"bad key {KEY} in request\"}}"),
        ),
        _ => ok,
    }
}

fn input(prompts: &[&str]) -> String {
    prompts
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{{\"id\":{i},\"prompt\":{}}}\n", Value::from(*p)))
        .collect()
}

fn api_args<'a>(server: &'a FakeServer, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--backend",
        "openai",
        "--base-url",
        &server.url,
        "--api-model",
        "m",
        "--backoff",
        "0.01",
        "--max-retries",
        "3",
        "--timeout",
        "2",
        "--concurrency",
        "4",
    ];
    args.extend_from_slice(extra);
    args
}

fn rows(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn faults_are_retried_and_rows_stay_in_input_order() {
    let server = FakeServer::start(faulty);
    let prompts = [
        "a",
        "rate limited",
        "flaky",
        "stalls",
        "junk",
        "hangs up",
        "b",
    ];
    let started = Instant::now();
    let r = run_env(
        BIN,
        &api_args(&server, &[]),
        Some(input(&prompts).as_bytes()),
        &[],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let out = rows(&r.stdout);
    let responses: Vec<&str> = out
        .iter()
        .map(|r| r["response"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = prompts.iter().map(|p| format!("echo: {p}")).collect();
    assert_eq!(responses, expected);
    assert!(out
        .iter()
        .all(|r| r["input_hash"].as_str().unwrap().len() == 32));
    // Retry-After: 1 was obeyed.
    assert!(started.elapsed() >= Duration::from_secs(1));
    // 7 first attempts + 1 (429) + 2 (500s) + 1 (stall) + 1 (junk) + 1 (hang-up)
    assert!(
        r.stderr.contains("api: 13 requests (6 retries, 0 failed)"),
        "{}",
        r.stderr
    );
    assert_eq!(server.requests().len(), 13);
    assert!(
        server
            .requests()
            .iter()
            .all(|s| s.json().get("logprobs").is_none()),
        "log-probabilities are asked for only with --logprobs"
    );
}

#[test]
fn a_row_whose_requests_all_fail_becomes_an_error_row_and_the_run_goes_on() {
    let server = FakeServer::start(faulty);
    let r = run_env(
        BIN,
        &api_args(&server, &[]),
        Some(input(&["a", "always 500", "b"]).as_bytes()),
        &[],
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    let out = rows(&r.stdout);
    assert_eq!(out.len(), 3);
    assert_eq!(out[1]["response"], Value::Null);
    assert_eq!(out[1]["finish_reason"], "error");
    assert!(out[1]["error"]
        .as_str()
        .unwrap()
        .starts_with("no answer after 4 attempts; last: HTTP 500"));
    assert_eq!(out[2]["response"], "echo: b");
    assert!(r.stderr.contains("1 responses failed"), "{}", r.stderr);
}

#[test]
fn resume_finishes_the_run_without_repeating_a_successful_request() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("responses.jsonl");
    let out = out_path.to_str().unwrap();
    let prompts = ["a", "b", "always 500", "c", "d"];
    let data = input(&prompts);
    let broken = FakeServer::start(faulty);
    let first = run_env(
        BIN,
        &api_args(&broken, &["--resume", out]),
        Some(data.as_bytes()),
        &[],
    );
    assert_eq!(first.status, 1, "{}", first.stderr);
    // A kill mid-write leaves half a line.
    let mut text = std::fs::read_to_string(&out_path).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 20;
    text.truncate(cut);
    std::fs::write(&out_path, &text).unwrap();

    let healthy = FakeServer::start(|seen: &Seen| {
        Reply::Json(200, completion(true, &format!("echo: {}", prompt_of(seen))))
    });
    let second = run_env(
        BIN,
        &api_args(&healthy, &["--resume", out]),
        Some(data.as_bytes()),
        &[],
    );
    assert_eq!(second.status, 0, "{}", second.stderr);
    let mut asked: Vec<String> = healthy.requests().iter().map(prompt_of).collect();
    asked.sort();
    // The failed row and the row cut by the "kill" (the last one), nothing else.
    assert_eq!(asked, ["always 500", "d"], "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("3 reused from the earlier run, 2 new"),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("half-written last line was dropped"));
    let done = rows(&std::fs::read_to_string(&out_path).unwrap());
    let responses: Vec<&str> = done
        .iter()
        .map(|r| r["response"].as_str().unwrap())
        .collect();
    assert_eq!(responses, prompts.map(|p| format!("echo: {p}")));
    assert!(second.stdout.is_empty());
}

#[test]
fn the_api_key_is_sent_but_never_written_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let resume = dir.path().join("out.jsonl");
    let rejects = dir.path().join("rejects.jsonl");
    let server = FakeServer::start(faulty);
    let r = run_env(
        BIN,
        &api_args(
            &server,
            &[
                "--resume",
                resume.to_str().unwrap(),
                "--rejects",
                rejects.to_str().unwrap(),
            ],
        ),
        Some(format!("{}not json\n", input(&["a", "bad request"])).as_bytes()),
        &[("OPENAI_API_KEY", KEY)],
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    let auth: Vec<String> = server
        .requests()
        .iter()
        .map(|s| s.header("Authorization").unwrap_or("").to_string())
        .collect();
    assert!(
        auth.iter().all(|a| a == &format!("Bearer {KEY}")),
        "{auth:?}"
    );
    let written = std::fs::read_to_string(&resume).unwrap();
    assert!(
        written.contains("bad key [API key] in request"),
        "{written}"
    );
    for (what, text) in [
        ("stdout", r.stdout.clone()),
        ("stderr", r.stderr.clone()),
        ("output", written),
        ("rejects", std::fs::read_to_string(&rejects).unwrap()),
    ] {
        assert!(!text.contains(&KEY[8..20]), "the key is in {what}: {text}");
    }
    // A refused key stops the run without echoing the key either.
    let refusing = FakeServer::start(|_: &Seen| {
        Reply::Raw(
            401,
            vec![],
            format!("{{\"error\": \"Incorrect API key provided: {KEY}\"}}"),
        )
    });
    let r = run_env(
        BIN,
        &api_args(&refusing, &[]),
        Some(input(&["a"]).as_bytes()),
        &[("OPENAI_API_KEY", KEY)],
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused the API key (HTTP 401"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(&KEY[8..20]) && !r.stdout.contains(&KEY[8..20]));
}

#[test]
fn the_openai_api_needs_a_key_and_onnx_options_are_refused() {
    let r = run_env(
        BIN,
        &["--backend", "openai", "--api-model", "gpt-4.1-mini"],
        Some(b"{\"prompt\":\"a\"}\n"),
        &[],
    );
    assert_eq!(r.status, 2);
    assert!(
        r.stderr
            .contains("set the environment variable OPENAI_API_KEY"),
        "{}",
        r.stderr
    );
    let r = run_env(
        BIN,
        &["--api-model", "m"],
        Some(b"{\"prompt\":\"a\"}\n"),
        &[],
    );
    assert_eq!(r.status, 2);
    assert!(r.stderr.contains("need --backend openai"), "{}", r.stderr);
    let server = FakeServer::start(faulty);
    let r = run_env(
        BIN,
        &api_args(&server, &["--model", "models/tiny"]),
        Some(b"{\"prompt\":\"a\"}\n"),
        &[],
    );
    assert_eq!(r.status, 2);
    assert!(r.stderr.contains("are for --backend onnx"), "{}", r.stderr);
}

#[test]
fn raw_mode_uses_completions_and_sends_the_sampling_settings() {
    let server = FakeServer::start(|seen: &Seen| {
        Reply::Json(200, completion(false, &format!(" and {}", prompt_of(seen))))
    });
    let r = run_env(
        BIN,
        &api_args(
            &server,
            &[
                "--raw",
                "--temperature",
                "0.7",
                "--top-p",
                "0.9",
                "--seed",
                "5",
                "--stop",
                "\n",
                "--rollouts",
                "2",
                "--max-new-tokens",
                "9",
                "--logprobs",
            ],
        ),
        Some(b"{\"prompt\":\"Once\",\"system_prompt\":\"Tell a story.\"}\n"),
        &[],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let out = rows(&r.stdout);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["response"], " and Tell a story.\n\nOnce");
    assert_eq!(out[1]["rollout"], 1);
    let sent: Vec<Value> = server.requests().iter().map(Seen::json).collect();
    assert!(server
        .requests()
        .iter()
        .all(|s| s.path == "/v1/completions"));
    assert_eq!(sent[0]["max_tokens"], 9);
    assert_eq!(sent[0]["logprobs"], 1);
    assert_eq!(sent[0]["stop"], serde_json::json!(["\n"]));
    assert!((sent[0]["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6);
    // Each rollout has its own seed, fixed by --seed and the row.
    let mut seeds: Vec<u64> = sent.iter().map(|v| v["seed"].as_u64().unwrap()).collect();
    seeds.sort();
    seeds.dedup();
    assert_eq!(seeds.len(), 2);
}

#[test]
fn a_server_that_never_answers_stops_the_run_instead_of_spending_every_retry() {
    let server = FakeServer::start(|_: &Seen| Reply::Hangup);
    let prompts: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
    let prompts: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let r = run_env(
        BIN,
        &api_args(&server, &[]),
        Some(input(&prompts).as_bytes()),
        &[],
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("requests in a row got no answer"),
        "{}",
        r.stderr
    );
    // Eight rows and what was in flight (4 + 8 waiting), four attempts
    // each: not all forty rows.
    assert!(
        server.requests().len() <= 4 * (8 + 12),
        "{}",
        server.requests().len()
    );
}

/// Field case: a server writes −∞ as `"logprob": null`. The array is kept
/// whole, the null stays null.
#[test]
fn a_null_log_probability_is_kept_as_null() {
    let server = FakeServer::start(|_: &Seen| {
        Reply::Json(
            200,
            serde_json::json!({"choices": [{"message": {"content": "Hello there!"}, "finish_reason": "stop",
                "logprobs": {"content": [{"token": "Hello", "logprob": -0.1},
                    {"token": " there", "logprob": null}, {"token": "!", "logprob": -0.3}]}}]}),
        )
    });
    let r = run_env(
        BIN,
        &api_args(&server, &["--logprobs"]),
        Some(b"{\"prompt\":\"hi\"}\n"),
        &[],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let out = rows(&r.stdout);
    assert_eq!(
        out[0]["response_logprobs"],
        serde_json::json!([{"token": "Hello", "logprob": -0.1},
            {"token": " there", "logprob": null}, {"token": "!", "logprob": -0.3}])
    );
}
