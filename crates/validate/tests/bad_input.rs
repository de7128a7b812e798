//! Every tool that reads JSON Lines refuses the same lines of the shared
//! bad-input corpus (`testdata/bad_input/corpus.jsonl`: a repeated key, lone
//! surrogates in a field the tool reads and in one it skips, text that is
//! not JSON, an array, invalid UTF-8, a raw control character, a cut-off
//! line) with the same `file:line` and the same reason. A CI gate must
//! never pass a file the rest of the pipeline rejects.
//!
//! The tools are the workspace's other binaries, built next to this test by
//! `cargo test --workspace`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use refinery_testkit::run;

const CORPUS: &str = "bad_input/corpus.jsonl";
/// The corpus lines that are not valid records (the others are valid JSON
/// objects, which a tool may still refuse for its own reasons).
const BAD_LINES: std::ops::RangeInclusive<u64> = 2..=9;

fn sibling(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_validate")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo test --workspace` (this test runs every tool)",
        path.display()
    );
    path
}

/// (line, reason) of every bad line the tool rejected.
fn rejected(tool: &str, args: &[&str]) -> BTreeMap<u64, String> {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let bin = sibling(tool);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--quiet", "--rejects", rejects.to_str().unwrap(), CORPUS]);
    let r = run(bin.to_str().unwrap(), &all, None);
    assert_eq!(r.status, 1, "{tool}: {}", r.stderr);
    std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .inspect(|v| assert_eq!(v["file"], CORPUS, "{tool}: {v}"))
        .map(|v| {
            (
                v["line"].as_u64().unwrap(),
                v["reason"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(line, _)| BAD_LINES.contains(line))
        .collect()
}

#[test]
fn every_tool_rejects_the_same_lines_for_the_same_reasons() {
    let tools: &[(&str, &[&str])] = &[
        ("validate", &[]),
        ("stats", &["--require", "count() >= 1"]),
        ("map-archetype", &[]),
        ("stratify-split", &[]),
        ("stratify-split", &["--mode", "hash"]),
        ("extract-candidates", &[]),
        ("probe-candidates", &[]),
        (
            "generate",
            &["--model", "models/tiny", "--raw", "--max-new-tokens", "1"],
        ),
        (
            "vet-score",
            &[
                "--model",
                "models/tiny",
                "--judge",
                "lm",
                "--raw",
                "--template",
                "vet/tiny_template.txt",
                "--definition",
                "vet/definition.txt",
                "--trait",
                "t",
                "--stage",
                "scenario",
                "--min-mass",
                "0",
            ],
        ),
        (
            "first-tokens",
            &[
                "--model",
                "models/tiny",
                "--definition",
                "vet/definition.txt",
                "--trait",
                "t",
            ],
        ),
    ];
    let reference = rejected("validate", &[]);
    assert_eq!(
        reference.keys().copied().collect::<Vec<_>>(),
        BAD_LINES.collect::<Vec<_>>(),
        "validate must refuse every bad line: {reference:?}"
    );
    assert!(reference[&2].contains(r#"key "valence" appears twice"#));
    assert!(
        reference[&4].contains("hex escape"),
        "a lone surrogate in a skipped field"
    );
    assert!(
        reference[&5].starts_with("invalid JSON at column"),
        "`nope` is not JSON: {}",
        reference[&5]
    );
    for (tool, args) in tools {
        assert_eq!(&rejected(tool, args), &reference, "{tool} {args:?}");
    }
    // label has no --rejects: it stops at the first bad line, with the same words.
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("sheet.csv");
    let label = sibling("label");
    let r = run(
        label.to_str().unwrap(),
        &[CORPUS, "--export-csv", sheet.to_str().unwrap()],
        None,
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    let first = format!("{CORPUS}:2: {}", reference[&2]);
    assert!(r.stderr.contains(&first), "{first}\n{}", r.stderr);
}
