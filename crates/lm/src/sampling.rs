//! Choosing the next token: greedy, or seeded sampling with temperature,
//! top-k and top-p. Each row draws from its own random stream, derived from
//! the seed and the row's stream id (not from its place in a batch), so a
//! row's sample is the same whatever else is batched with it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{LmError, Result};

/// How the next token is chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    /// 0 = greedy.
    pub temperature: f32,
    /// Nucleus: keep the most likely tokens whose mass reaches `top_p` (1 = off).
    pub top_p: f32,
    /// Keep the `top_k` most likely tokens (0 = off).
    pub top_k: usize,
    /// Seed of the random streams.
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            seed: 0,
        }
    }
}

impl Sampling {
    /// Whether the likeliest token is always taken.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0 || self.top_k == 1
    }

    /// Refuses a temperature below 0, a top-p outside (0, 1].
    pub fn check(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(LmError::Invalid(format!(
                "temperature must be >= 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(LmError::Invalid(format!(
                "top-p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        Ok(())
    }

    /// The random stream of one row (`stream` identifies the row and rollout).
    pub fn stream(&self, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream);
        rng
    }

    /// Picks the next token from one row's logits.
    pub fn pick(&self, logits: &[f32], rng: &mut ChaCha8Rng) -> u32 {
        if self.is_greedy() {
            return argmax(logits);
        }
        let (mut sorted, keep, total) = self.nucleus(logits);
        // One draw per step whether or not it is needed keeps the stream in
        // step with the token count.
        let u: f64 = rng.gen();
        let mut target = u * total;
        let mut last = 0;
        for i in 0..keep {
            let (id, p) = sorted.get(i);
            if target < p {
                return id;
            }
            target -= p;
            last = id;
        }
        last
    }

    /// The tokens that survive top-k and top-p: the vocabulary ordered most
    /// likely first (ties by id) as far as it is read, how many of them are
    /// kept, and their total unnormalised probability at the sampling
    /// temperature. Only what top-p and the draw reach gets sorted: a
    /// vocabulary of 50-150k tokens sorted in full every step cost a
    /// quarter of SmolLM2's batch-1 step.
    fn nucleus(&self, logits: &[f32]) -> (LazySorted, usize, f64) {
        let t = self.temperature as f64;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let all: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, ((l as f64 - max) / t).exp()))
            .filter(|c| c.1 > 0.0)
            .collect();
        let n = all.len();
        let k = if self.top_k > 0 { self.top_k.min(n) } else { n };
        // The mass top-p is a share of: the whole vocabulary's, or top-k's.
        let all_mass = (k == n).then(|| all.iter().map(|c| c.1).sum::<f64>());
        let mut sorted = LazySorted::new(all);
        let base = match all_mass {
            Some(mass) => mass,
            None => (0..k).map(|i| sorted.get(i).1).sum(),
        };
        if self.top_p >= 1.0 {
            return (sorted, k, base);
        }
        let mut mass = 0.0;
        for i in 0..k {
            mass += sorted.get(i).1;
            if mass >= self.top_p as f64 * base {
                return (sorted, i + 1, mass);
            }
        }
        (sorted, k, mass)
    }

    /// The kept tokens, most likely first (see [`Self::nucleus`]).
    #[cfg(test)]
    fn candidates(&self, logits: &[f32]) -> Vec<(u32, f64)> {
        let (mut sorted, keep, _) = self.nucleus(logits);
        (0..keep).map(|i| sorted.get(i)).collect()
    }
}

/// Most likely first; equal probabilities by id. A total order, so any
/// partial sort under it agrees with the full sort.
fn by_prob(a: &(u32, f64), b: &(u32, f64)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Tokens sorted by [`by_prob`] only as far as they are read: each time a
/// read passes the sorted part, the next few times as many are selected
/// (`select_nth_unstable_by`, linear) and sorted.
struct LazySorted {
    items: Vec<(u32, f64)>,
    sorted: usize,
}

impl LazySorted {
    /// The first segment sorted: the top tokens usually hold nearly all of
    /// the mass, so one selection and a 256-item sort is the usual cost.
    const FIRST: usize = 256;

    fn new(items: Vec<(u32, f64)>) -> Self {
        LazySorted { items, sorted: 0 }
    }

    /// The `i`-th most likely item. Panics past the end (callers read below
    /// the length).
    fn get(&mut self, i: usize) -> (u32, f64) {
        if i >= self.sorted {
            let end = (self.sorted * 4)
                .max(Self::FIRST)
                .max(i + 1)
                .min(self.items.len());
            let rest = &mut self.items[self.sorted..];
            let take = end - self.sorted;
            if take < rest.len() {
                rest.select_nth_unstable_by(take - 1, by_prob);
            }
            rest[..take].sort_unstable_by(by_prob);
            self.sorted = end;
        }
        self.items[i]
    }
}

/// Index of the largest logit; the lowest index wins a tie.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Natural-log probabilities of a row of logits, computed in f64.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let log_z = log_normalizer(logits);
    logits.iter().map(|&l| (l as f64 - log_z) as f32).collect()
}

/// [`log_softmax`] of the tokens `ids` only (the same bits), without a
/// vocabulary-sized row for each position scored.
pub fn log_softmax_at(logits: &[f32], ids: &[u32]) -> Vec<f32> {
    let log_z = log_normalizer(logits);
    ids.iter()
        .map(|&t| (logits[t as usize] as f64 - log_z) as f32)
        .collect()
}

/// log Σ exp(logit), shifted by the largest logit so no term overflows.
fn log_normalizer(logits: &[f32]) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    max + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(temperature: f32, top_p: f32, top_k: usize) -> Sampling {
        Sampling {
            temperature,
            top_p,
            top_k,
            seed: 7,
        }
    }

    #[test]
    fn greedy_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[0.0, 3.0, 1.0, 3.0]), 1);
        let mut rng = sampler(0.0, 1.0, 0).stream(0);
        assert_eq!(sampler(0.0, 1.0, 0).pick(&[0.0, 3.0, 1.0], &mut rng), 1);
    }

    #[test]
    fn top_k_and_top_p_keep_only_the_likely_tokens() {
        let logits = [5.0, 4.0, 0.0, -3.0, 4.5];
        let c = sampler(1.0, 1.0, 2).candidates(&logits);
        assert_eq!(c.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0, 4]);
        let c = sampler(1.0, 0.5, 0).candidates(&logits);
        assert_eq!(c.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0]);
        for _ in 0..100 {
            let s = sampler(1.0, 0.9, 2);
            let mut rng = s.stream(3);
            assert!([0, 4].contains(&s.pick(&logits, &mut rng)));
        }
    }

    #[test]
    fn streams_are_reproducible_and_differ_by_row() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let s = sampler(1.0, 1.0, 0);
        let draw = |stream| {
            let mut rng = s.stream(stream);
            (0..20)
                .map(|_| s.pick(&logits, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn sampling_follows_the_distribution() {
        // p(0) = e^1 / (e^1 + 1) ~ 0.731
        let s = sampler(1.0, 1.0, 0);
        let mut rng = s.stream(0);
        let zeros = (0..20_000)
            .filter(|_| s.pick(&[1.0, 0.0], &mut rng) == 0)
            .count();
        let share = zeros as f64 / 20_000.0;
        assert!((share - 0.731).abs() < 0.015, "{share}");
    }

    #[test]
    fn log_softmax_sums_to_one() {
        let lp = log_softmax(&[1.0, 2.0, 3.0, -1e4]);
        let total: f64 = lp.iter().map(|&l| (l as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!(lp[3] < -1e3);
    }

    /// The sampler before the lazy sort: every token sorted, every step.
    fn full_sort_pick(s: &Sampling, logits: &[f32], rng: &mut ChaCha8Rng) -> u32 {
        let t = s.temperature as f64;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let mut all: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, ((l as f64 - max) / t).exp()))
            .filter(|c| c.1 > 0.0)
            .collect();
        all.sort_unstable_by(by_prob);
        if s.top_k > 0 {
            all.truncate(s.top_k);
        }
        if s.top_p < 1.0 {
            let total: f64 = all.iter().map(|c| c.1).sum();
            let mut mass = 0.0;
            let keep = all
                .iter()
                .position(|c| {
                    mass += c.1;
                    mass >= s.top_p as f64 * total
                })
                .map_or(all.len(), |i| i + 1);
            all.truncate(keep);
        }
        let u: f64 = rng.gen();
        let mut target = u * all.iter().map(|c| c.1).sum::<f64>();
        for &(id, p) in &all {
            if target < p {
                return id;
            }
            target -= p;
        }
        all.last().map_or(0, |c| c.0)
    }

    proptest::proptest! {
        #[test]
        fn the_lazy_sort_picks_what_a_full_sort_picks(
            logits in proptest::collection::vec(-30.0f32..30.0, 1..3000),
            flat in 0.05f32..3.0,
            temperature in 0.1f32..2.0,
            top_p in 0.05f32..1.0,
            use_top_p in proptest::bool::ANY,
            top_k in 0usize..600,
            seed in 0u64..1000,
        ) {
            // Scaled logits: from nearly flat (the draw reads deep into the
            // vocabulary) to peaked; repeated values test the ties.
            let logits: Vec<f32> = logits.iter().map(|l| (l * flat).round() / 4.0).collect();
            let s = Sampling { temperature, top_p: if use_top_p { top_p } else { 1.0 }, top_k, seed };
            let (mut lazy, mut full) = (s.stream(1), s.stream(1));
            for _ in 0..4 {
                proptest::prop_assert_eq!(s.pick(&logits, &mut lazy), full_sort_pick(&s, &logits, &mut full));
            }
        }
    }

    #[test]
    fn log_softmax_at_gives_log_softmax_bits() {
        let logits = [0.3f32, -2.0, 7.5, 7.5, -1e4, 1.25];
        let all = log_softmax(&logits);
        let at = log_softmax_at(&logits, &[5, 2, 0, 4]);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&at), bits(&[all[5], all[2], all[0], all[4]]));
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(sampler(-1.0, 1.0, 0).check().is_err());
        assert!(sampler(1.0, 0.0, 0).check().is_err());
        assert!(sampler(1.0, 1.5, 0).check().is_err());
        assert!(sampler(0.7, 0.9, 40).check().is_ok());
    }
}
