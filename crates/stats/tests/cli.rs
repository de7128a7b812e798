//! CLI tests: the `stats` binary on fixtures in `testdata/`, against golden files.

use refinery_testkit::{assert_golden, fixture, run};

const BIN: &str = env!("CARGO_BIN_EXE_stats");

#[test]
fn table_json_and_markdown_reports() {
    for (format, golden) in [
        ("table", "golden/stats/small.txt"),
        ("json", "golden/stats/small.json"),
        ("markdown", "golden/stats/small.md"),
    ] {
        let r = run(BIN, &["--format", format, "affect/small.jsonl"], None);
        assert_eq!(r.status, 0, "{}", r.stderr);
        assert_golden(golden, &r.stdout);
        assert_eq!(
            r.stderr,
            "stats: 12 read, 12 written, 0 filtered, 0 rejected\n"
        );
    }
}

#[test]
fn where_by_and_compare() {
    let r = run(
        BIN,
        &[
            "--format",
            "json",
            "--where",
            "exists(split)",
            "--by",
            "split",
            "--compare",
            "intimacy=valence",
            "affect/small.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_golden("golden/stats/where_by_compare.json", &r.stdout);
    assert_eq!(
        r.stderr,
        "stats: 12 read, 10 written, 2 filtered, 0 rejected\n"
    );
}

#[test]
fn gates_pass_and_fail_with_actual_values() {
    let ok = run(
        BIN,
        &[
            "--format",
            "json",
            "--quiet",
            "--require",
            "count() >= 12",
            "--require",
            r#"count(archetype == "hostile_intimacy") == 1"#,
            "--require",
            "share(intimacy <= -0.1) >= 0.1",
            "--require",
            "mean(valence) <= 0.1",
            "affect/small.jsonl",
        ],
        None,
    );
    assert_eq!(ok.status, 0, "{}", ok.stderr);
    assert_eq!(ok.stderr, "");

    let bad = run(
        BIN,
        &[
            "--format",
            "json",
            "--quiet",
            "--require",
            "count() >= 8000",
            "--require",
            "max(tension) <= 1",
            "--require",
            "std(missing_field) < 1",
            "affect/small.jsonl",
        ],
        None,
    );
    assert_eq!(bad.status, 1);
    assert_eq!(
        bad.stderr,
        "stats: gate failed: count() >= 8000 (actual 12)\n\
         stats: gate failed: std(missing_field) < 1 (actual no value (no rows with the field))\n\
         stats: 2 of 3 gates failed\n"
    );
    let report: serde_json::Value = serde_json::from_str(&bad.stdout).unwrap();
    assert_eq!(report["gates"][1]["passed"], true);
    assert_eq!(report["gates"][1]["actual"], 1.0);
}

#[test]
fn bad_input_stops_at_the_first_bad_line() {
    let r = run(BIN, &["--format", "json", "affect/bad.jsonl"], None);
    assert_eq!(r.status, 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr
            .starts_with("stats: affect/bad.jsonl:3: invalid JSON at column 40: trailing comma"),
        "{}",
        r.stderr
    );
}

#[test]
fn rejects_keep_going_and_the_accounting_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let r = run(
        BIN,
        &[
            "--format",
            "json",
            "--rejects",
            rejects.to_str().unwrap(),
            "affect/bad.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.ends_with(&format!(
            "stats: 6 read, 2 written, 0 filtered, 4 rejected (2 blank lines skipped)\n\
             stats: 4 rows rejected (see {})\n",
            rejects.display()
        )),
        "{}",
        r.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["rows"], 2);
    let text = std::fs::read_to_string(&rejects).unwrap();
    assert_golden("golden/stats/bad.rejects.jsonl", &text);
}

#[test]
fn reads_stdin_and_dash() {
    let data = std::fs::read(fixture("affect/small.jsonl")).unwrap();
    let a = run(BIN, &["--format", "json"], Some(&data));
    let b = run(BIN, &["--format", "json", "-"], Some(&data));
    assert_eq!(a.status, 0);
    assert_eq!(a.stdout, b.stdout);
    let from_file = run(BIN, &["--format", "json", "affect/small.jsonl"], None);
    assert_eq!(a.stdout, from_file.stdout);
}

#[test]
fn usage_errors_exit_2_and_point_at_the_column() {
    let r = run(
        BIN,
        &["--where", "valence <= and x", "affect/small.jsonl"],
        None,
    );
    assert_eq!(r.status, 2);
    assert_eq!(
        r.stderr,
        "stats: --where: expected a field, a value or `(`, found `and` at column 12\n  valence <= and x\n             ^\n"
    );
    let r = run(
        BIN,
        &["--require", "avg(valence) > 0", "affect/small.jsonl"],
        None,
    );
    assert_eq!(r.status, 2);
    assert!(r.stderr.contains("unknown aggregate `avg`"));
    let r = run(BIN, &["no/such/file.jsonl"], None);
    assert_eq!(r.status, 2);
    assert!(
        r.stderr.starts_with("stats: no/such/file.jsonl: "),
        "{}",
        r.stderr
    );
    let r = run(BIN, &["--format", "yaml"], None);
    assert_eq!(r.status, 2);
}

#[test]
fn many_chunks_fast_and_general_paths_give_the_same_report() {
    // Over 4096 lines, so rows are measured in several chunks on several
    // threads; `--where true` forces the general parsing path.
    let small = std::fs::read_to_string(fixture("affect/small.jsonl")).unwrap();
    let rows: Vec<&str> = small.lines().take(10).collect();
    let input: String = (0..10_000)
        .map(|i| format!("{}\n", rows[i % rows.len()]))
        .collect();
    let fast = run(BIN, &["--format", "json"], Some(input.as_bytes()));
    let general = run(
        BIN,
        &["--format", "json", "--where", "true"],
        Some(input.as_bytes()),
    );
    assert_eq!(fast.status, 0, "{}", fast.stderr);
    assert_eq!(fast.stdout, general.stdout);
    let again = run(BIN, &["--format", "json"], Some(input.as_bytes()));
    assert_eq!(fast.stdout, again.stdout);
    let report: serde_json::Value = serde_json::from_str(&fast.stdout).unwrap();
    assert_eq!(report["rows"], 10_000);
    assert_eq!(report["archetypes"]["rows"][0]["count"], 1000);
}

#[test]
fn a_terminal_on_stdin_gets_usage_instead_of_a_wait() {
    // util-linux `script` gives the tool a pseudo-terminal as stdin.
    let out = std::process::Command::new("script")
        .args(["-qec", BIN, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("util-linux `script` runs the tool on a terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("stats: no input: give FILE arguments or pipe JSON Lines into stats"),
        "{text}"
    );
}

/// Field case 01: snowflake ids and nanosecond timestamps compare exactly.
#[test]
fn big_integers_compare_exactly_in_where() {
    for (predicate, rows) in [
        ("id == 675127116845989889", 1),
        ("id > 675127116845989888", 2),
        ("ts_ns == 1499816949527975200", 0),
        ("ts_ns == 1499816949527975237", 1),
    ] {
        let r = run(
            env!("CARGO_BIN_EXE_stats"),
            &[
                "--quiet",
                "--format",
                "json",
                "--where",
                predicate,
                "bigint/ids.jsonl",
            ],
            None,
        );
        assert_eq!(r.status, 0, "{}", r.stderr);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(report["rows"], rows, "{predicate}");
    }
}

/// A failing `==` on a computed value shows every digit it compared.
#[test]
fn a_failing_gate_prints_the_value_it_compared() {
    let r = run(
        env!("CARGO_BIN_EXE_stats"),
        &["--quiet", "--require", "mae(pred_valence, valence) == 0.1"],
        Some(b"{\"valence\":0.3,\"pred_valence\":0.2}\n{\"valence\":0.1,\"pred_valence\":0.2}\n"),
    );
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.contains(
            "gate failed: mae(pred_valence, valence) == 0.1 (actual 0.09999999999999999)"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn compare_shows_per_rater_how_often_labels_copy_the_prediction() {
    let r = run(
        BIN,
        &[
            "--format",
            "markdown",
            "--compare",
            "pred_valence=valence",
            "--where",
            "exists(labelled_by)",
            "affect/two_raters.jsonl",
        ],
        None,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    // ana's labels are the predictions (share 1.000), ben's are not
    assert!(
        r.stdout
            .contains("| rater ana | 6 | 0 | 0.000 | 0.000 | +0.000 | +1.000 | 1.000 | 0.167 |"),
        "{}",
        r.stdout
    );
    assert_golden("golden/stats/two_raters_compare.md", &r.stdout);
}
