//! Property test: balanced sampling keeps exactly min(quota, available)
//! rows per archetype, and the same rows whatever the input order.

use proptest::prelude::*;
use refinery_testkit::run;

const BIN: &str = env!("CARGO_BIN_EXE_map-archetype");
const EMOTIONS: [&str; 5] = ["fear", "anger", "sadness", "amusement", "admiration"];

fn lines(rows: &[(usize, u32)]) -> Vec<String> {
    rows.iter()
        .enumerate()
        .map(|(i, (e, n))| {
            format!(
                r#"{{"text":"row {i} {n}","emotions":["{}"]}}"#,
                EMOTIONS[*e]
            )
        })
        .collect()
}

fn sample(lines: &[String], quota: u64, seed: u64) -> Vec<String> {
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = run(
        BIN,
        &[
            "--quiet",
            "--only-matched",
            "--per-archetype",
            &quota.to_string(),
            "--seed",
            &seed.to_string(),
        ],
        Some(input.as_bytes()),
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    r.stdout.lines().map(str::to_string).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn quotas_are_exact_and_order_free(
        rows in prop::collection::vec((0..EMOTIONS.len(), any::<u32>()), 0..120),
        quota in 0u64..12,
        seed in any::<u64>(),
        shuffle in any::<u64>(),
    ) {
        let forward = lines(&rows);
        let kept = sample(&forward, quota, seed);
        // admiration matches no archetype; the other four map to one each.
        for (e, archetype) in [(0, "fearful_urgent"), (1, "aggressive_distance"), (2, "flat_numb"), (3, "playful_neutral")] {
            let available = rows.iter().filter(|(x, _)| *x == e).count() as u64;
            let got = kept.iter().filter(|l| l.contains(&format!("\"archetype\":\"{archetype}\""))).count() as u64;
            prop_assert_eq!(got, available.min(quota), "{}", archetype);
        }
        let mut reordered = forward.clone();
        let n = reordered.len().max(1);
        reordered.rotate_left((shuffle as usize) % n);
        reordered.reverse();
        let mut a = kept.clone();
        let mut b = sample(&reordered, quota, seed);
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
    }
}
