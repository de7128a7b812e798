//! `stats --merge`: shard reports merged into the report of all their rows.
//! A property test over random rows cut at random points, and CLI tests on
//! the sample data in three shards: the merged report, gates on it, and the
//! errors a user can make.

use proptest::prelude::*;
use refinery_testkit::{assert_golden, fixture, run};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_stats");
const MEASURE: [&str; 4] = [
    "--measure",
    "share(intimacy <= -0.1) >= 0.05",
    "--measure",
    "mean(valence) <= 0.1",
];

/// The report without the figures a merge cannot give and the `merged` note.
fn comparable(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in [
                    "spearman",
                    "equal_to_prediction",
                    "equal_by_chance",
                    "merged",
                    "enforced",
                ] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// `stats --format json ARGS` on each part, then `--merge` of the reports.
fn shard_and_merge(parts: &[String], args: &[&str], merge_args: &[&str]) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let mut a = vec!["--quiet", "--format", "json"];
        a.extend_from_slice(args);
        let r = run(BIN, &a, Some(part.as_bytes()));
        assert_eq!(r.status, 0, "{}", r.stderr);
        let path = dir.path().join(format!("part{i}.json"));
        std::fs::write(&path, r.stdout).unwrap();
        reports.push(path.to_str().unwrap().to_string());
    }
    let mut a = vec!["--merge", "--format", "json"];
    a.extend_from_slice(merge_args);
    a.extend(reports.iter().map(String::as_str));
    let r = run(BIN, &a, None);
    assert_eq!(r.status, 0, "{}", r.stderr);
    (serde_json::from_str(&r.stdout).unwrap(), r.stderr)
}

fn one_pass(text: &str, args: &[&str]) -> Value {
    let mut a = vec!["--quiet", "--format", "json"];
    a.extend_from_slice(args);
    let r = run(BIN, &a, Some(text.as_bytes()));
    assert_eq!(r.status, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn row(v: i64, i: i64, t: i64, split: u8) -> String {
    format!(
        "{{\"valence\":{},\"intimacy\":{},\"tension\":{},\"confidence\":0.5,\"tags\":[\"t{}\"],\"split\":\"s{split}\",\"pred_valence\":{}}}",
        v as f64 / 100.0,
        i as f64 / 100.0,
        t as f64 / 37.0,
        v.rem_euclid(5),
        (v + i) as f64 / 300.0,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any rows, cut anywhere: the merged report is the one-pass report.
    #[test]
    fn merged_shards_equal_one_pass(
        rows in prop::collection::vec((-120i64..120, -120i64..120, -50i64..50, 0u8..3), 1..120),
        cuts in prop::collection::vec(0usize..120, 1..4),
    ) {
        let lines: Vec<String> = rows.iter().map(|&(v, i, t, s)| row(v, i, t, s)).collect();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(lines.len())).collect();
        points.extend([0, lines.len()]);
        points.sort_unstable();
        let parts: Vec<String> = points
            .windows(2)
            .map(|w| lines[w[0]..w[1]].iter().map(|l| format!("{l}\n")).collect())
            .collect();
        let mut args = vec!["--by", "split", "--compare", "pred_valence=valence"];
        args.extend_from_slice(&MEASURE);
        let whole: String = parts.concat();
        let (merged, _) = shard_and_merge(&parts, &args, &[]);
        prop_assert!(
            comparable(merged) == comparable(one_pass(&whole, &args)),
            "the merged report differs from one pass over {} rows cut at {:?}", lines.len(), points
        );
    }
}

fn sample_shards() -> (Vec<String>, String) {
    let text = std::fs::read_to_string(fixture("affect/small.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let parts = lines
        .chunks(lines.len().div_ceil(3))
        .map(|c| c.iter().map(|l| format!("{l}\n")).collect())
        .collect();
    (parts, text)
}

#[test]
fn three_shards_of_the_sample_merge_to_one_report_and_gate_it() {
    let (parts, text) = sample_shards();
    assert_eq!(parts.len(), 3);
    let mut args = vec!["--by", "split"];
    args.extend_from_slice(&MEASURE);
    let (merged, stderr) = shard_and_merge(&parts, &args, &["--require", "mean(valence) <= 0.1"]);
    assert!(stderr.contains("3 reports merged: 12 rows"), "{stderr}");
    assert_eq!(merged["merged"]["reports"], 3);
    assert_golden("golden/stats/merged.json", &format!("{merged}\n"));
    assert!(
        comparable(merged.clone()) == comparable(one_pass(&text, &args)),
        "the merged report differs from one pass"
    );
    let gate = |g: &str| {
        merged["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["gate"] == g)
            .unwrap()
            .clone()
    };
    assert_eq!(gate("mean(valence) <= 0.1")["passed"], true);
    assert!(
        gate("mean(valence) <= 0.1").get("enforced").is_none(),
        "enforced by --require"
    );
    assert_eq!(gate("share(intimacy <= -0.1) >= 0.05")["enforced"], false);

    // A gate the merged data fails fails the merge, with the merged value.
    let (shards, _) = sample_shards();
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, part) in shards.iter().enumerate() {
        let r = run(
            BIN,
            &[
                "--quiet",
                "--format",
                "json",
                "--measure",
                "share(intimacy <= -0.1) >= 0.5",
            ],
            Some(part.as_bytes()),
        );
        let p = dir.path().join(format!("{i}.json"));
        std::fs::write(&p, r.stdout).unwrap();
        paths.push(p.to_str().unwrap().to_string());
    }
    let mut a = vec![
        "--merge",
        "--quiet",
        "--require",
        "share(intimacy <= -0.1) >= 0.5",
    ];
    a.extend(paths.iter().map(String::as_str));
    let r = run(BIN, &a, None);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("gate failed: share(intimacy <= -0.1) >= 0.5 (actual 0.16666666666666666)"),
        "{}",
        r.stderr
    );

    // A gate no shard measured is a usage error that says what to do.
    let mut a = vec!["--merge", "--require", "count() >= 1"];
    a.extend(paths.iter().map(String::as_str));
    let r = run(BIN, &a, None);
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("give it to each shard's stats with --measure"),
        "{}",
        r.stderr
    );
}

#[test]
fn reports_that_do_not_fit_together_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (parts, _) = sample_shards();
    let write = |name: &str, args: &[&str], part: &str| {
        let mut a = vec!["--quiet", "--format", "json"];
        a.extend_from_slice(args);
        let r = run(BIN, &a, Some(part.as_bytes()));
        let p = dir.path().join(name);
        std::fs::write(&p, r.stdout).unwrap();
        p.to_str().unwrap().to_string()
    };
    let a = write("a.json", &[], &parts[0]);
    let b = write("b.json", &["--by", "split"], &parts[1]);
    let r = run(BIN, &["--merge", &a, &b], None);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("b.json:1: measured with other --by than"),
        "{}",
        r.stderr
    );

    let rows = fixture("affect/small.jsonl");
    let r = run(BIN, &["--merge", &a, rows.to_str().unwrap()], None);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("small.jsonl:1: not a JSON report"),
        "{}",
        r.stderr
    );

    let r = run(BIN, &["--merge", "--where", "valence > 0", &a], None);
    assert_eq!(r.status, 2, "{}", r.stderr);
}

#[test]
fn targets_gate_the_merged_counts_and_spearman_is_refused() {
    let (parts, _) = sample_shards();
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let r = run(
            BIN,
            &[
                "--quiet",
                "--format",
                "json",
                "--compare",
                "intimacy=valence",
                "--measure",
                "spearman(intimacy, valence) >= 0.5",
            ],
            Some(part.as_bytes()),
        );
        assert_eq!(r.status, 0, "{}", r.stderr);
        let p = dir.path().join(format!("{i}.json"));
        std::fs::write(&p, r.stdout).unwrap();
        paths.push(p.to_str().unwrap().to_string());
    }
    let merge = |extra: &[&str]| {
        let mut a = vec!["--merge", "--quiet", "--format", "json"];
        a.extend_from_slice(extra);
        a.extend(paths.iter().map(String::as_str));
        run(BIN, &a, None)
    };
    // One row of each archetype in all: 1 of 600 is 0.2% of its target.
    let r = merge(&["--require-targets", "0.001"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let gates = report["gates"].as_array().unwrap();
    assert!(gates.iter().any(
        |g| g["gate"] == "count(archetype == \"hostile_intimacy\") >= 1" && g["actual"] == 1.0
    ));
    let r = merge(&["--require-targets", "0.01"]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("gate failed: count(archetype == \"hostile_intimacy\") >= 6 (actual 1)"),
        "{}",
        r.stderr
    );
    // Measured on the shards, Spearman cannot be gated on the merge.
    let r = merge(&["--require", "spearman(intimacy, valence) >= 0.5"]);
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(r.stderr.contains("needs every pair"), "{}", r.stderr);
}
