//! CLI tests: `extract-candidates` on every source format, against golden files.

use refinery_testkit::{assert_golden, run};

const BIN: &str = env!("CARGO_BIN_EXE_extract-candidates");
const LOG_PATTERN: &str =
    r"^(?P<ts>\S+) \[(?P<session>[^\]]+)\] #(?P<id>\S+) (?P<role>\w+): (?P<text>.*)$";

fn golden_run(args: &[&str], golden: &str) -> String {
    let r = run(BIN, args, None);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden(
        &format!("golden/extract-candidates/{golden}.jsonl"),
        &r.stdout,
    );
    r.stderr
}

#[test]
fn chat_jsonl_with_interleaved_sessions_and_mixed_field_names() {
    let stderr = golden_run(&["harvest/chat.jsonl"], "chat");
    assert_eq!(
        stderr,
        "extract-candidates: left out 1 by length, 1 as duplicate texts\n\
         extract-candidates: 7 read, 5 written, 2 filtered, 0 rejected (1 blank lines skipped)\n"
    );
}

/// Tool-calling turns (`"content": null`, `role: "tool"`) and contents given
/// as a list of parts: turns without text are left out and counted, the
/// others kept; text parts are joined.
#[test]
fn openai_tool_calls_and_content_parts() {
    let r = run(
        BIN,
        &["--role", "user", "harvest/openai_tool_calls.jsonl"],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden(
        "golden/extract-candidates/openai_tool_calls.jsonl",
        &r.stdout,
    );
    let texts: Vec<String> = r
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        texts,
        [
            "what's the weather, I'm anxious about the trip",
            "ugh. fine.",
            "sorry, sent an empty one",
            "what is in\nthis picture?"
        ]
    );
    assert!(
        r.stderr.contains("left out 2 by --role, 3 turns without text (tool calls, null content); 2 non-text content parts skipped"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("9 read, 4 written, 5 filtered, 0 rejected"),
        "{}",
        r.stderr
    );
}

#[test]
fn openai_conversations_one_per_line() {
    golden_run(&["--role", "user", "harvest/openai.jsonl"], "openai");
}

#[test]
fn text_log_with_continuation_joined_to_the_affect_head() {
    let stderr = golden_run(
        &[
            "--line-pattern",
            LOG_PATTERN,
            "--continuation",
            "--join",
            "../pipelines/sample/affect_head_raw.jsonl",
            "--role",
            "user",
            "--tag",
            "tension",
            "../pipelines/sample/interactions.log",
        ],
        "log_joined",
    );
    assert!(
        stderr.contains(
            "joined affect-head predictions to 18 messages; 1 head rows matched no message"
        ),
        "{stderr}"
    );
}

#[test]
fn text_log_line_that_does_not_match_is_bad_input() {
    let r = run(
        BIN,
        &[
            "--line-pattern",
            LOG_PATTERN,
            "../pipelines/sample/interactions.log",
        ],
        None,
    );
    assert_eq!(r.status, 1);
    assert_eq!(
        r.stderr,
        "extract-candidates: ../pipelines/sample/interactions.log:12: line does not match --line-pattern (use --continuation to join it to the message before)\n"
    );
    let r = run(
        BIN,
        &["--format", "log", "../pipelines/sample/interactions.log"],
        None,
    );
    assert_eq!(r.status, 2);
    let r = run(
        BIN,
        &[
            "--line-pattern",
            "(?P<body>.*)",
            "../pipelines/sample/interactions.log",
        ],
        None,
    );
    assert_eq!(r.status, 2);
    assert!(r.stderr.contains("needs a named group `text`"));
}

#[test]
fn goemotions_split_file() {
    golden_run(
        &["../pipelines/sample/goemotions_sample.tsv"],
        "goemotions_tsv",
    );
    let r = run(BIN, &["harvest/bad.tsv"], None);
    assert_eq!(r.status, 1);
    assert_eq!(
        r.stderr,
        "extract-candidates: harvest/bad.tsv:2: label id \"28\" is not one of 0..27\n"
    );
}

#[test]
fn goemotions_raw_csv_merges_raters() {
    let stderr = golden_run(
        &["../pipelines/sample/goemotions_raw_sample.csv"],
        "goemotions_csv",
    );
    assert_eq!(
        stderr,
        "extract-candidates: GoEmotions CSV: 11 rater rows; 6 merged into their comment, 1 marked example_very_unclear, 1 comments with no label from 2 or more raters\n\
         extract-candidates: 11 read, 3 written, 8 filtered, 0 rejected\n"
    );
    golden_run(
        &[
            "--min-agreement",
            "1",
            "../pipelines/sample/goemotions_raw_sample.csv",
        ],
        "goemotions_csv_k1",
    );
}

#[test]
fn where_selects_on_predictions() {
    golden_run(
        &[
            "--where",
            r#"emotions has "anger" or emotions has "fear""#,
            "../pipelines/sample/goemotions_sample.tsv",
        ],
        "goemotions_where",
    );
}

#[test]
fn bad_lines_stop_or_go_to_rejects() {
    let r = run(BIN, &["harvest/bad_chat.jsonl"], None);
    assert_eq!(r.status, 1);
    assert_eq!(
        r.stderr,
        "extract-candidates: harvest/bad_chat.jsonl:2: no text field (looked for text, content, message)\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("r.jsonl");
    let r = run(
        BIN,
        &[
            "--rejects",
            rejects.to_str().unwrap(),
            "harvest/bad_chat.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 1);
    assert_eq!(r.stdout.lines().count(), 2);
    assert!(
        r.stderr
            .contains("4 read, 2 written, 0 filtered, 2 rejected"),
        "{}",
        r.stderr
    );
    assert_golden(
        "golden/extract-candidates/bad_chat.rejects.jsonl",
        &std::fs::read_to_string(rejects).unwrap(),
    );
}

#[test]
fn escaped_texts_are_decoded_for_length_and_duplicates_and_copied_as_written() {
    let input = concat!(
        r#"{"session_id":"s","text":"Say \"hi\"\nthen go"}"#,
        "\n",
        r#"{"session_id":"s","text":"say \u0022HI\u0022 then go"}"#,
        "\n",
        r#"{"session_id":"s","text":"plain text"}"#,
        "\n",
    );
    let r = run(
        BIN,
        &["--min-chars", "10", "--context", "0"],
        Some(input.as_bytes()),
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let texts: Vec<String> = r
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect();
    // The second is the first after case and white space folding; the
    // third is exactly 10 characters.
    assert_eq!(texts, ["Say \"hi\"\nthen go", "plain text"]);
    assert!(
        r.stdout.starts_with(r#"{"text":"Say \"hi\"\nthen go""#),
        "{}",
        r.stdout
    );
}

/// Provenance and error lines are the physical line where a record starts,
/// for LF, CRLF and mixed line ends (records with embedded newlines too).
#[test]
fn goemotions_csv_lines_do_not_depend_on_line_ends() {
    for file in [
        "harvest/goemotions_lf.csv",
        "harvest/goemotions_crlf.csv",
        "harvest/goemotions_mixed.csv",
    ] {
        let r = run(BIN, &["--quiet", file], None);
        assert_eq!(r.status, 0, "{file}: {}", r.stderr);
        let lines: Vec<(String, u64)> = r
            .stdout
            .lines()
            .map(|l| {
                let row: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    row["id"].as_str().unwrap().to_string(),
                    row["line"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            [("k1".into(), 2), ("k2".into(), 4), ("k3".into(), 8)],
            "{file}"
        );
    }
    let r = run(BIN, &["harvest/goemotions_crlf_bad.csv"], None);
    assert_eq!(r.status, 1);
    assert!(
        r.stderr
            .contains("goemotions_crlf_bad.csv:10: row has 3 fields"),
        "{}",
        r.stderr
    );
}

/// A head file's numbers are copied as written (`1E-1` stays `1E-1`).
#[test]
fn joined_predictions_keep_their_numbers_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head.jsonl");
    std::fs::write(&head, "{\"id\":\"m1\",\"valence\":1E-1,\"tension\":0.50}\n").unwrap();
    let r = run(
        BIN,
        &["--quiet", "--join", head.to_str().unwrap()],
        Some(b"{\"id\":\"m1\",\"text\":\"hello there you\",\"role\":\"user\",\"session_id\":\"s\"}\n"),
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("\"pred_valence\":1E-1,\"pred_tension\":0.50"),
        "{}",
        r.stdout
    );
}

/// The TSV and JSONL readers number lines the same whatever the line ends
/// (LF, CRLF, a mix), blank lines included.
#[test]
fn tsv_and_jsonl_lines_do_not_depend_on_line_ends() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = [
        "I am so glad you came\t17\tc1",
        "",
        "why would you do that\t2\tc2",
        "it is what it is\t27\tc3",
    ];
    let jsonl = [
        r#"{"text":"hello there friend","role":"user","session_id":"s"}"#,
        "",
        r#"{"text":"are you coming tonight","role":"user","session_id":"s"}"#,
        r#"{"text":"fine then whatever","role":"user","session_id":"s"}"#,
    ];
    for (name, lines) in [("g.tsv", &tsv), ("c.jsonl", &jsonl)] {
        for (ending, join) in [
            ("lf", vec!["\n"; 3]),
            ("crlf", vec!["\r\n"; 3]),
            ("mixed", vec!["\r\n", "\n", "\r\n"]),
        ] {
            let mut text = String::new();
            for (i, line) in lines.iter().enumerate() {
                text.push_str(line);
                text.push_str(join.get(i).copied().unwrap_or("\n"));
            }
            let path = dir.path().join(format!("{ending}-{name}"));
            std::fs::write(&path, text).unwrap();
            let r = run(BIN, &["--quiet", path.to_str().unwrap()], None);
            assert_eq!(r.status, 0, "{ending} {name}: {}", r.stderr);
            let got: Vec<u64> = r
                .stdout
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                        .as_u64()
                        .unwrap()
                })
                .collect();
            assert_eq!(got, [1, 3, 4], "{ending} {name}");
        }
    }
}
