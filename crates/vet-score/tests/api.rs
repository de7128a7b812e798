//! `vet-score --backend openai` against a scripted loopback endpoint whose
//! "tokenizer" splits numbers into digits: follow-up requests complete the
//! numbers, failures become error rows, `--resume` re-asks only those.

use refinery_testkit::fake_server::{top_tokens, FakeServer, Reply, Seen};
use refinery_testkit::run_env;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_vet-score");

/// A judge that likes flattery: "8" then "5" for it, "1" then "2" or the
/// end otherwise; rows mentioning "poem" fail while `broken`.
fn judge(broken: bool) -> impl Fn(&Seen) -> Reply {
    move |seen: &Seen| {
        let v = seen.json();
        let messages = v["messages"].as_array().cloned().unwrap_or_default();
        let user = messages[0]["content"].as_str().unwrap_or("").to_string();
        if broken && user.contains("her poem") {
            return Reply::Json(503, serde_json::json!({"error": "overloaded"}));
        }
        let flattering = user.contains("it was brilliant") || user.contains("the best poem");
        let so_far = match messages.get(1) {
            Some(m) => {
                assert_eq!(m["role"], "assistant");
                assert_eq!(v["continue_final_message"], true);
                m["content"].as_str().unwrap().to_string()
            }
            None => String::new(),
        };
        let top: &[(&str, f64)] = match (flattering, so_far.as_str()) {
            (true, "") => &[("8", 0.9), ("Sure", 0.1)],
            (true, "8") => &[("5", 1.0)],
            (false, "") => &[("1", 0.8), ("The", 0.2)],
            (false, "1") => &[("2", 0.5), ("<|im_end|>", 0.5)],
            other => panic!("unexpected follow-up {other:?}"),
        };
        Reply::Json(200, top_tokens(top))
    }
}

fn args<'a>(server: &'a FakeServer, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "--backend",
        "openai",
        "--base-url",
        &server.url,
        "--api-model",
        "judge",
        "--backoff",
        "0.01",
        "--max-retries",
        "2",
        "--concurrency",
        "3",
        "--definition",
        "vet/definition.txt",
        "--trait",
        "sycophancy",
        "--stage",
        "response",
    ];
    a.extend_from_slice(extra);
    a.push("vet/api_responses.jsonl");
    a
}

fn vets(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["response_vet"].clone())
        .collect()
}

#[test]
fn numbers_split_into_digits_are_completed_and_scored_like_the_local_judge() {
    let server = FakeServer::start(judge(false));
    let r = run_env(BIN, &args(&server, &[]), None, &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let v = vets(&r.stdout);
    // Flattery: 85 with probability 0.9 -> 85, mass 0.9.
    assert_eq!(v[0]["score"], 85.0);
    assert_eq!(v[0]["mass"], 0.9);
    assert_eq!(v[0]["verdict"], "pass");
    assert_eq!(v[0]["judge"], "api:judge");
    // Otherwise 1 (0.4) or 12 (0.4) -> 6.5, mass 0.8.
    assert_eq!(v[1]["score"], 6.5);
    assert_eq!(v[1]["mass"], 0.8);
    // Each row: one request and one follow-up.
    let rows = r.stdout.lines().count();
    assert_eq!(server.requests().len(), 2 * rows);
    assert!(server.requests().iter().all(|s| {
        let b = s.json();
        b["max_tokens"] == 1 && b["temperature"] == 0 && b["top_logprobs"] == 20 && b["seed"] == 0
    }));
}

#[test]
fn failed_rows_are_errors_and_resume_re_asks_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vetted.jsonl");
    let out = out.to_str().unwrap();
    let broken = FakeServer::start(judge(true));
    let first = run_env(
        BIN,
        &args(&broken, &["--paired", "--resume", out]),
        None,
        &[],
    );
    assert_eq!(first.status, 1, "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("rows got no score because their requests failed"),
        "{}",
        first.stderr
    );
    let v = vets(&std::fs::read_to_string(out).unwrap());
    let errors: Vec<&Value> = v.iter().filter(|v| v["verdict"] == "error").collect();
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|e| e["error"]
        .as_str()
        .unwrap()
        .starts_with("request failed: no answer after 3 attempts; last: HTTP 503")));

    let healthy = FakeServer::start(judge(false));
    let second = run_env(
        BIN,
        &args(&healthy, &["--paired", "--resume", out]),
        None,
        &[],
    );
    assert_eq!(second.status, 0, "{}", second.stderr);
    let asked = healthy.requests();
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|s| s.body.contains("her poem")),
        "only the failed rows are asked again"
    );
    let done = std::fs::read_to_string(out).unwrap();
    let fresh = FakeServer::start(judge(false));
    let whole = run_env(BIN, &args(&fresh, &["--paired"]), None, &[]);
    assert_eq!(
        done, whole.stdout,
        "a resumed run ends with what one run writes"
    );
}

type Script = dyn Fn(&Seen) -> Reply + Send + Sync;

/// Answer shapes real servers send, each with a message that names the
/// real cause: byte-level BPE tokens (read as text), Python's `-Infinity`
/// (read as −∞, not retried), a capped `top_logprobs` (the cap named), an
/// empty answer (said so), and tokens holding no number (listed).
#[test]
fn server_answer_shapes_get_the_right_reading_or_message() {
    let cases: Vec<(&str, Box<Script>)> = vec![
        (
            "byte-level",
            Box::new(|_: &Seen| Reply::Json(200, top_tokens(&[("Ġ85", 0.9), ("ĠThe", 0.1)]))),
        ),
        (
            "infinity",
            Box::new(|_: &Seen| {
                Reply::Raw(
                    200,
                    vec![],
                    r#"{"choices":[{"message":{"content":"85"},"logprobs":{"content":[{"token":"85","logprob":0.0,"top_logprobs":[{"token":"85","logprob":0.0},{"token":"x","logprob":-Infinity}]}]}}]}"#.into(),
                )
            }),
        ),
        (
            "capped",
            Box::new(|_: &Seen| {
                Reply::Json(
                    400,
                    serde_json::json!({"error": {"message": "top_logprobs must be <= 5"}}),
                )
            }),
        ),
        (
            "empty",
            Box::new(|_: &Seen| {
                Reply::Json(
                    200,
                    serde_json::json!({"choices": [{"message": {"content": ""}, "logprobs": {"content": []}}]}),
                )
            }),
        ),
        (
            "words",
            Box::new(|_: &Seen| Reply::Json(200, top_tokens(&[("The", 0.7), ("Sure", 0.3)]))),
        ),
    ];
    for (name, script) in cases {
        let server = FakeServer::start(script);
        let r = run_env(BIN, &args(&server, &[]), None, &[]);
        let v = vets(&r.stdout);
        let first = &v[0];
        match name {
            "byte-level" => {
                assert_eq!(r.status, 0, "{name}: {}", r.stderr);
                assert_eq!(first["score"], 85.0, "{name}: {first}");
            }
            "infinity" => {
                assert_eq!(r.status, 0, "{name}: {}", r.stderr);
                assert_eq!(first["score"], 85.0, "{name}: {first}");
                // One request per row: nothing was retried.
                assert_eq!(server.requests().len(), v.len(), "{name}");
            }
            "capped" => {
                assert_eq!(r.status, 1, "{name}: {}", r.stderr);
                let e = first["error"].as_str().unwrap();
                assert!(
                    e.contains("top_logprobs must be <= 5") && e.contains("--top-logprobs N"),
                    "{e}"
                );
            }
            "empty" => {
                let e = first["error"].as_str().unwrap();
                assert!(e.contains("the model answered nothing"), "{e}");
            }
            "words" => {
                assert_eq!(r.status, 0, "{name}: {}", r.stderr);
                let e = first["error"].as_str().unwrap();
                assert!(
                    e.contains(r#"the top tokens were "The" 0.70, "Sure" 0.30"#),
                    "{e}"
                );
            }
            _ => unreachable!(),
        }
    }
    // --top-logprobs is sent as asked.
    let server = FakeServer::start(judge(false));
    let r = run_env(BIN, &args(&server, &["--top-logprobs", "5"]), None, &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(server
        .requests()
        .iter()
        .all(|s| s.json()["top_logprobs"] == 5));
}
