//! Property test: `stats --format json` agrees with a naive computation over
//! random rows. Values are two-decimal numbers (k / 100), so the naive side
//! can decide thresholds and histogram bins in integer arithmetic, which
//! also checks the float edge handling.

use proptest::prelude::*;
use refinery_testkit::run;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_stats");
const TAGS: [&str; 4] = ["care", "tension", "affection", "numb"];
const ARCHETYPES: [&str; 3] = ["flat_numb", "hostile_intimacy", "custom"];

#[derive(Clone, Debug)]
struct Row {
    axes: [Option<i64>; 4],
    tags: Vec<usize>,
    archetype: Option<usize>,
}

fn row() -> impl Strategy<Value = Row> {
    let axis = |lo: i64, hi: i64| prop::option::weighted(0.85, lo..=hi);
    (
        [
            axis(-120, 120),
            axis(-120, 120),
            axis(-120, 120),
            axis(-10, 110),
        ],
        prop::collection::vec(0..TAGS.len(), 0..3),
        prop::option::of(0..ARCHETYPES.len()),
    )
        .prop_map(|(axes, tags, archetype)| Row {
            axes,
            tags,
            archetype,
        })
}

fn line(r: &Row) -> String {
    let mut m = serde_json::Map::new();
    for (name, v) in ["valence", "intimacy", "tension", "confidence"]
        .iter()
        .zip(r.axes)
    {
        if let Some(k) = v {
            // Written as decimal text, as a person or Python would write it.
            let text = format!(
                "{}{}.{:02}",
                if k < 0 { "-" } else { "" },
                k.abs() / 100,
                k.abs() % 100
            );
            m.insert(name.to_string(), serde_json::from_str(&text).unwrap());
        }
    }
    m.insert(
        "tags".into(),
        json!(r.tags.iter().map(|&t| TAGS[t]).collect::<Vec<_>>()),
    );
    if let Some(a) = r.archetype {
        m.insert("archetype".into(), json!(ARCHETYPES[a]));
    }
    serde_json::to_string(&m).unwrap()
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() <= 1e-9 * (1.0 + b.abs())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn stats_matches_a_naive_computation(rows in prop::collection::vec(row(), 1..200)) {
        let input: String = rows.iter().map(|r| line(r) + "\n").collect();
        let out = run(
            BIN,
            &["--format", "json", "--quiet", "--require", "share(intimacy <= -0.1) >= 0"],
            Some(input.as_bytes()),
        );
        prop_assert_eq!(out.status, 0, "{}", out.stderr);
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        prop_assert_eq!(report["rows"].as_u64().unwrap(), rows.len() as u64);

        for (i, name) in ["valence", "intimacy", "tension", "confidence"].iter().enumerate() {
            let values: Vec<i64> = rows.iter().filter_map(|r| r.axes[i]).collect();
            let a = &report["axes"][name];
            prop_assert_eq!(a["count"].as_u64().unwrap(), values.len() as u64);
            prop_assert_eq!(a["missing"].as_u64().unwrap(), (rows.len() - values.len()) as u64);
            let (lo, hi) = if i == 3 { (0, 100) } else { (-100, 100) };
            let width = (hi - lo) / 10;
            let mut bins = [0u64; 10];
            let (mut below, mut above) = (0u64, 0u64);
            for &k in &values {
                if k < lo { below += 1 } else if k > hi { above += 1 } else {
                    bins[(((k - lo) / width) as usize).min(9)] += 1;
                }
            }
            let got: Vec<u64> = a["histogram"]["bins"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            prop_assert_eq!(got, bins.to_vec(), "{} bins", name);
            prop_assert_eq!(a["histogram"]["below"].as_u64().unwrap(), below);
            prop_assert_eq!(a["histogram"]["above"].as_u64().unwrap(), above);
            if values.is_empty() {
                prop_assert!(a["mean"].is_null());
                continue;
            }
            let xs: Vec<f64> = values.iter().map(|&k| k as f64 / 100.0).collect();
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let std = (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
            prop_assert!(close(&a["mean"], mean), "{} mean {} vs {}", name, a["mean"], mean);
            prop_assert!(close(&a["std"], std), "{} std {} vs {}", name, a["std"], std);
            prop_assert!(close(&a["min"], *values.iter().min().unwrap() as f64 / 100.0));
            prop_assert!(close(&a["max"], *values.iter().max().unwrap() as f64 / 100.0));
        }

        let count = |axis: usize, test: &dyn Fn(i64) -> bool| {
            rows.iter().filter(|r| r.axes[axis].is_some_and(test)).count() as u64
        };
        let b = &report["baseline"];
        prop_assert_eq!(b["distant_intimacy"].as_u64().unwrap(), count(1, &|k| k <= -10));
        prop_assert_eq!(b["positive_valence"].as_u64().unwrap(), count(0, &|k| k >= 20));
        prop_assert_eq!(b["negative_valence"].as_u64().unwrap(), count(0, &|k| k <= -20));
        prop_assert_eq!(b["high_intimacy"].as_u64().unwrap(), count(1, &|k| k >= 30));
        prop_assert_eq!(b["high_tension"].as_u64().unwrap(), count(2, &|k| k >= 40));
        let share = count(1, &|k| k <= -10) as f64 / rows.len() as f64;
        prop_assert!(close(&report["gates"][0]["actual"], share));

        for (ai, name) in ARCHETYPES.iter().enumerate() {
            let n = rows.iter().filter(|r| r.archetype == Some(ai)).count() as u64;
            let listed = report["archetypes"]["rows"].as_array().unwrap().iter()
                .find(|a| a["name"] == *name).map_or(0, |a| a["count"].as_u64().unwrap());
            prop_assert_eq!(listed, n, "archetype {}", name);
        }
        let mut tag_counts: Vec<(String, u64)> = TAGS.iter().map(|t| {
            (t.to_string(), rows.iter().map(|r| r.tags.iter().filter(|&&i| TAGS[i] == *t).count() as u64).sum())
        }).filter(|(_, n)| *n > 0).collect();
        tag_counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let got: Vec<(String, u64)> = b["top_tags"].as_array().unwrap().iter()
            .map(|t| (t["tag"].as_str().unwrap().to_string(), t["count"].as_u64().unwrap())).collect();
        prop_assert_eq!(got, tag_counts);
    }
}
