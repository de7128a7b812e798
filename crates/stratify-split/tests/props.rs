//! Property tests of `stratify-split`: exact quotas, determinism, group
//! integrity, duplicates never straddling splits, and hash mode giving the
//! same answer for the whole input and for any sharding of it.

use std::collections::HashMap;

use proptest::prelude::*;
use refinery_stratify_split::allocate_table;
use refinery_testkit::run;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_stratify-split");
const ARCHETYPES: [Option<&str>; 4] = [
    Some("flat_numb"),
    Some("fearful_urgent"),
    Some("hostile_intimacy"),
    None,
];

#[derive(Clone, Debug)]
struct Spec {
    archetype: usize,
    session: Option<u8>,
    text: u16,
    shout: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..ARCHETYPES.len(),
        prop::option::of(0u8..12),
        0u16..400,
        any::<bool>(),
    )
        .prop_map(|(archetype, session, text, shout)| Spec {
            archetype,
            session,
            text,
            shout,
        })
}

fn line(s: &Spec, unique: usize, dup_texts: bool) -> String {
    let mut m = serde_json::Map::new();
    let text = if dup_texts {
        format!("text number {}", s.text)
    } else {
        format!("unique {unique}")
    };
    // Case and white space differ; the normalised text is the same.
    let text = if s.shout {
        format!("  {} ", text.to_uppercase())
    } else {
        text
    };
    m.insert("text".into(), text.into());
    if let Some(a) = ARCHETYPES[s.archetype] {
        m.insert("archetype".into(), a.into());
    }
    if let Some(sess) = s.session {
        m.insert("session_id".into(), format!("s{sess}").into());
    }
    serde_json::to_string(&m).unwrap()
}

fn split(args: &[&str], input: &str) -> Vec<Value> {
    let r = run(BIN, &[&["--quiet"], args].concat(), Some(input.as_bytes()));
    assert_eq!(r.status, 0, "{}", r.stderr);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn norm(t: &str) -> String {
    t.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn exact_quotas_per_stratum(specs in prop::collection::vec(spec(), 0..300), seed in any::<u64>()) {
        let input: String = specs.iter().enumerate().map(|(i, s)| line(s, i, false) + "\n").collect();
        let rows = split(&["--seed", &seed.to_string()], &input);
        prop_assert_eq!(rows.len(), specs.len());
        let mut counts: HashMap<String, [u64; 3]> = HashMap::new();
        for r in &rows {
            let stratum = r.get("archetype").and_then(Value::as_str).unwrap_or("(none)").to_string();
            let i = ["train", "dev", "test"].iter().position(|s| r["split"] == *s).unwrap();
            counts.entry(stratum).or_default()[i] += 1;
        }
        let mut totals = [0u64; 3];
        for (stratum, c) in counts {
            let n: u64 = c.iter().sum();
            for (i, r) in [0.8, 0.1, 0.1].iter().enumerate() {
                prop_assert!((c[i] as f64 - n as f64 * r).abs() < 1.0 + 1e-9, "{}: {:?}", stratum, c);
                totals[i] += c[i];
            }
        }
        // The splits' totals too (controlled rounding).
        for (i, r) in [0.8, 0.1, 0.1].iter().enumerate() {
            prop_assert!((totals[i] as f64 - rows.len() as f64 * r).abs() < 1.0 + 1e-9, "{:?}", totals);
        }
        let again = split(&["--seed", &seed.to_string()], &input);
        prop_assert_eq!(rows, again);
    }

    #[test]
    fn groups_and_duplicates_stay_together(specs in prop::collection::vec(spec(), 0..300), seed in any::<u64>()) {
        let input: String = specs.iter().enumerate().map(|(i, s)| line(s, i, true) + "\n").collect();
        let rows = split(&["--seed", &seed.to_string(), "--group-by", "session_id"], &input);
        let mut by_group: HashMap<String, String> = HashMap::new();
        let mut by_text: HashMap<String, String> = HashMap::new();
        for r in &rows {
            let split = r["split"].as_str().unwrap().to_string();
            if let Some(g) = r.get("session_id").and_then(Value::as_str) {
                let first = by_group.entry(g.to_string()).or_insert_with(|| split.clone());
                prop_assert_eq!(&*first, &split, "group {} straddles", g);
            }
            let t = norm(r["text"].as_str().unwrap());
            let first = by_text.entry(t.clone()).or_insert_with(|| split.clone());
            prop_assert_eq!(&*first, &split, "text {} straddles", t);
        }
    }

    #[test]
    fn hash_mode_is_the_same_for_any_sharding(
        specs in prop::collection::vec(spec(), 1..200),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        seed in any::<u64>(),
    ) {
        let lines: Vec<String> = specs.iter().enumerate().map(|(i, s)| line(s, i, true)).collect();
        let whole: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let args = ["--mode", "hash", "--seed", &seed.to_string()];
        let expected = split(&args, &whole);
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(lines.len())).collect();
        bounds.extend([0, lines.len()]);
        bounds.sort();
        let mut sharded = Vec::new();
        for w in bounds.windows(2) {
            let shard: String = lines[w[0]..w[1]].iter().map(|l| format!("{l}\n")).collect();
            sharded.extend(split(&args, &shard));
        }
        prop_assert_eq!(&expected, &sharded);
        // Duplicated texts share a split.
        let mut by_text: HashMap<String, Value> = HashMap::new();
        for r in &expected {
            let t = norm(r["text"].as_str().unwrap());
            let first = by_text.entry(t).or_insert_with(|| r["split"].clone());
            prop_assert_eq!(&*first, &r["split"]);
        }
    }
}

proptest! {
    /// Controlled rounding: every cell within one row of its exact share,
    /// every stratum's quotas adding up to its size, every split's total
    /// within one row of its exact share (so no split is empty when its
    /// share is a row or more), for any sizes, ratios and seed.
    #[test]
    fn strata_and_split_totals_are_both_within_one_row(
        sizes in proptest::collection::vec(0u64..60, 1..30),
        weights in proptest::collection::vec(1u32..20, 2..5),
        seed in any::<u64>(),
    ) {
        let total_weight: u32 = weights.iter().sum();
        let ratios: Vec<f64> = weights.iter().map(|&w| w as f64 / total_weight as f64).collect();
        let table = allocate_table(&sizes, &ratios, seed);
        let n: u64 = sizes.iter().sum();
        for (k, row) in table.iter().enumerate() {
            prop_assert_eq!(row.iter().sum::<u64>(), sizes[k]);
            for (s, &cell) in row.iter().enumerate() {
                let exact = sizes[k] as f64 * ratios[s];
                prop_assert!((cell as f64 - exact).abs() < 1.0 + 1e-9, "cell {k},{s}: {cell} vs {exact}");
            }
        }
        for s in 0..ratios.len() {
            let got: u64 = table.iter().map(|r| r[s]).sum();
            let exact = n as f64 * ratios[s];
            prop_assert!((got as f64 - exact).abs() < 1.0 + 1e-9, "split {s}: {got} vs {exact}");
            if exact >= 1.0 {
                prop_assert!(got > 0);
            }
        }
        prop_assert_eq!(allocate_table(&sizes, &ratios, seed), table);
    }
}
