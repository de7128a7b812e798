//! The seeded choice of slot values: each setup gets `per_setup` distinct
//! combinations of its slots' values, drawn from a random stream that
//! depends only on the seed, the archetype and the setup's number, so adding
//! a probe file or a setup never changes the prompts of the others.

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use xxhash_rust::xxh3::xxh3_64;

use crate::probe::{slot_names, Probe};

/// One expanded prompt: which setup, and the value chosen for each slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expansion {
    pub setup: usize,
    pub values: BTreeMap<String, String>,
}

/// Up to `per_setup` distinct slot combinations for every setup of a probe.
pub fn expand(probe: &Probe, seed: u64, per_setup: usize) -> Vec<Expansion> {
    let mut out = Vec::new();
    for (setup, text) in probe.setups.iter().enumerate() {
        let names = slot_names(text).expect("checked when loaded");
        let sizes: Vec<u128> = names.iter().map(|n| probe.slots[n].len() as u128).collect();
        let combinations = sizes.iter().fold(1u128, |acc, &s| acc.saturating_mul(s));
        let stream = xxh3_64(format!("{}\u{0}{setup}", probe.archetype).as_bytes());
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stream);
        for index in distinct_indices(combinations, per_setup, &mut rng) {
            let values = decode(index, &sizes)
                .into_iter()
                .zip(&names)
                .map(|(i, name)| (name.clone(), probe.slots[name][i].clone()))
                .collect();
            out.push(Expansion { setup, values });
        }
    }
    out
}

/// `want` distinct numbers below `n`, in drawing order; all of them, in
/// order, when there are no more than `want`.
fn distinct_indices(n: u128, want: usize, rng: &mut ChaCha8Rng) -> Vec<u128> {
    if n <= want as u128 {
        return (0..n).collect();
    }
    let mut seen = BTreeSet::new();
    let mut picked = Vec::with_capacity(want);
    while picked.len() < want {
        let i = rng.gen_range(0..n);
        if seen.insert(i) {
            picked.push(i);
        }
    }
    picked
}

/// A combination's number as one index per slot (mixed radix).
fn decode(mut index: u128, sizes: &[u128]) -> Vec<usize> {
    sizes
        .iter()
        .map(|&size| {
            let digit = index % size;
            index /= size;
            digit as usize
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        serde_json::from_str(
            r#"{"archetype": "flat_numb", "system_prompt": "s",
                "slots": {"who": ["a", "b", "c"], "what": ["x", "y"]},
                "setups": ["{who} {what}", "just {who}"]}"#,
        )
        .unwrap()
    }

    #[test]
    fn combinations_are_distinct_and_capped_by_what_exists() {
        let all = expand(&probe(), 7, 10);
        assert_eq!(all.iter().filter(|e| e.setup == 0).count(), 6);
        assert_eq!(all.iter().filter(|e| e.setup == 1).count(), 3);
        let some = expand(&probe(), 7, 4);
        let first: BTreeSet<_> = some
            .iter()
            .filter(|e| e.setup == 0)
            .map(|e| format!("{:?}", e.values))
            .collect();
        assert_eq!(first.len(), 4);
    }

    #[test]
    fn the_seed_decides_and_nothing_else() {
        assert_eq!(expand(&probe(), 7, 2), expand(&probe(), 7, 2));
        let seeds: BTreeSet<String> = (0..20)
            .map(|s| format!("{:?}", expand(&probe(), s, 2)))
            .collect();
        assert!(seeds.len() > 1, "different seeds draw different slots");
        // a setup added before does not change the draw of the setup after it
        let mut more = probe();
        more.setups.push("{what} again".into());
        assert_eq!(expand(&more, 7, 2)[..4], expand(&probe(), 7, 2)[..4]);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every setup gets min(per_setup, combinations) combinations, all
        /// distinct, every value taken from its own slot.
        #[test]
        fn counts_and_distinctness(sizes in prop::collection::vec(1usize..5, 1..4), per_setup in 1usize..40, seed: u64) {
            let slots: BTreeMap<String, Vec<String>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| (format!("s{i}"), (0..n).map(|v| format!("s{i}v{v}")).collect()))
                .collect();
            let setup = slots.keys().map(|k| format!("{{{k}}}")).collect::<Vec<_>>().join(" ");
            let probe = Probe {
                archetype: "flat_numb".into(),
                why: String::new(),
                system_prompt: "s".into(),
                slots: slots.clone(),
                setups: vec![setup],
            };
            let got = expand(&probe, seed, per_setup);
            let combinations: usize = sizes.iter().product();
            prop_assert_eq!(got.len(), per_setup.min(combinations));
            let distinct: BTreeSet<String> = got.iter().map(|e| format!("{:?}", e.values)).collect();
            prop_assert_eq!(distinct.len(), got.len());
            for e in &got {
                for (name, value) in &e.values {
                    prop_assert!(slots[name].contains(value));
                }
            }
        }
    }
}
