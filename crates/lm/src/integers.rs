//! The probability a model gives each integer 0..=100 as its answer, computed
//! exactly over digit tokens.
//!
//! Tokenizers such as SmolLM2's, Llama's and Qwen's split numbers into single
//! digits, so "85" is two tokens and reading one token's top log-probs would
//! squash the scale. Here the digits form a trie: P(n) is the probability of
//! n's digits in order times the probability that the number ends there (the
//! next token is not a digit). Every trie node's next-digit probabilities
//! come from one batched pass over the prefix's shared KV cache. An optional
//! leading space token (SmolLM2 puts ~0.9 of its mass on a bare space after
//! "Score:") is a second path into the same trie.
//!
//! Numbers with a leading zero ("07") or above 100 are not valid answers;
//! their mass is not counted, so it lowers [`IntegerDistribution::mass`].

use std::collections::HashMap;

use crate::error::{LmError, Result};
use crate::model::CausalLm;

pub const MAX_SCORE: usize = 100;

/// The distribution over 0..=100 (not normalised: see [`Self::mass`]).
#[derive(Clone, Debug, PartialEq)]
pub struct IntegerDistribution {
    pub probs: Vec<f64>,
}

impl IntegerDistribution {
    /// Probability on valid integers (the rest went to words, other numbers…).
    pub fn mass(&self) -> f64 {
        self.probs.iter().sum()
    }

    /// The probability-weighted mean, or `None` when the mass is below `floor`.
    pub fn mean(&self, floor: f64) -> Option<f64> {
        let mass = self.mass();
        if mass < floor || mass <= 0.0 {
            return None;
        }
        Some(
            self.probs
                .iter()
                .enumerate()
                .map(|(n, p)| n as f64 * p)
                .sum::<f64>()
                / mass,
        )
    }
}

/// Token ids of the ten digits and of a bare leading space, for one tokenizer.
#[derive(Clone, Debug)]
pub struct DigitTokens {
    pub digits: [u32; 10],
    pub space: Option<u32>,
}

impl DigitTokens {
    /// Requires every digit to be one token (the trie walks a digit per step).
    pub fn of(lm: &CausalLm) -> Result<Self> {
        let mut digits = [0u32; 10];
        for (d, slot) in digits.iter_mut().enumerate() {
            let ids = lm.tokenize(&d.to_string())?;
            *slot = match ids[..] {
                [id] => id,
                _ => {
                    return Err(LmError::Invalid(format!(
                        "the judge needs a tokenizer with each digit as one token; \"{d}\" is {} tokens",
                        ids.len()
                    )))
                }
            };
        }
        let space = match lm.tokenize(" ")?[..] {
            [id] if !digits.contains(&id) => Some(id),
            _ => None,
        };
        Ok(DigitTokens { digits, space })
    }
}

/// Paths whose probability is below this are not expanded: their numbers
/// count as not given (at most 1e-6 of mass each, ~2e-4 in all).
pub const PRUNE_BELOW: f64 = 1e-6;

/// Next-token probabilities of the ten digits (and the space, last) after
/// each path into the trie that has been run.
struct Trie {
    p_space: f64,
    after: HashMap<Vec<u8>, [f64; 11]>,
}

impl Trie {
    /// P(path), where a path is an optional leading space then digits.
    fn path_probability(&self, space: bool, digits: &[u8]) -> Option<f64> {
        let mut p = if space { self.p_space } else { 1.0 };
        let mut node = if space { vec![b' '] } else { Vec::new() };
        for &d in digits {
            p *= self.after.get(&node)?[(d - b'0') as usize];
            node.push(d);
        }
        Some(p)
    }

    /// P(the number ends after this path): the next token is not a digit.
    fn ends(&self, node: &[u8]) -> Option<f64> {
        self.after
            .get(node)
            .map(|a| (1.0 - a[..10].iter().sum::<f64>()).max(0.0))
    }

    fn number_probability(&self, space: bool, n: usize) -> f64 {
        let digits = n.to_string().into_bytes();
        let mut node = if space { vec![b' '] } else { Vec::new() };
        node.extend(&digits);
        match (self.path_probability(space, &digits), self.ends(&node)) {
            (Some(p), Some(end)) => p * end,
            _ => 0.0,
        }
    }
}

/// Numbers of `len` digits that are valid answers (no leading zero, <= 100).
fn numbers_of_length(len: usize) -> Vec<usize> {
    match len {
        1 => (0..=9).collect(),
        2 => (10..=99).collect(),
        _ => vec![100],
    }
}

impl CausalLm {
    /// P(answer = n) for n in 0..=100 after `prefix`, through the digits
    /// directly and, with `allow_space`, after a bare space token too. The
    /// trie is walked a digit per round; each round is one batched pass over
    /// the prefix's cache.
    pub fn integer_distribution(
        &mut self,
        prefix: &[u32],
        tokens: &DigitTokens,
        allow_space: bool,
    ) -> Result<IntegerDistribution> {
        let space = tokens.space.filter(|_| allow_space);
        let mut picks: Vec<u32> = tokens.digits.to_vec();
        picks.push(space.unwrap_or(tokens.digits[0]));
        let state = self.prefix_state(prefix)?;
        let root: [f64; 11] =
            std::array::from_fn(|i| (state.logprobs[picks[i] as usize] as f64).exp());
        let mut trie = Trie {
            p_space: if space.is_some() { root[10] } else { 0.0 },
            after: HashMap::from([(Vec::new(), root)]),
        };
        let starts: &[bool] = if space.is_some() {
            &[false, true]
        } else {
            &[false]
        };
        for len in 1..=3 {
            let mut nodes: Vec<Vec<u8>> = Vec::new();
            for &with_space in starts {
                for n in numbers_of_length(len) {
                    let digits = n.to_string().into_bytes();
                    // A leading space's own distribution is read from the
                    // one-digit round, so it is never pruned there.
                    let p = trie.path_probability(with_space, &digits).unwrap_or(1.0);
                    if len == 1 || p >= PRUNE_BELOW {
                        let mut node = if with_space { vec![b' '] } else { Vec::new() };
                        node.extend(digits);
                        nodes.push(node);
                    }
                }
            }
            let paths: Vec<Vec<u32>> = nodes
                .iter()
                .map(|node| {
                    node.iter()
                        .map(|&c| {
                            if c == b' ' {
                                space.expect("space paths need it")
                            } else {
                                tokens.digits[(c - b'0') as usize]
                            }
                        })
                        .collect()
                })
                .collect();
            let along = self.logprobs_along(&state, &paths, &picks)?;
            for (node, rows) in nodes.iter().zip(along) {
                for (end, row) in rows.iter().enumerate() {
                    let probs: [f64; 11] = std::array::from_fn(|i| (row[i] as f64).exp());
                    trie.after.entry(node[..=end].to_vec()).or_insert(probs);
                }
            }
        }
        let mut probs = vec![0.0; MAX_SCORE + 1];
        for (n, slot) in probs.iter_mut().enumerate() {
            *slot = starts
                .iter()
                .map(|&sp| trie.number_probability(sp, n))
                .sum();
        }
        Ok(IntegerDistribution { probs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trie(p_space: f64, nodes: &[(&str, &[(u8, f64)])]) -> Trie {
        let mut after = HashMap::new();
        for (node, next) in nodes {
            let mut probs = [0.0; 11];
            for &(d, p) in next.iter() {
                probs[d as usize] = p;
            }
            after.insert(node.as_bytes().to_vec(), probs);
        }
        Trie { p_space, after }
    }

    #[test]
    fn one_digit_answers_end_where_no_digit_follows() {
        let t = trie(
            0.0,
            &[
                ("", &[(7, 0.5), (3, 0.25)]),
                ("7", &[]),
                ("3", &[(1, 0.5)]),
                ("31", &[]),
            ],
        );
        assert_eq!(t.number_probability(false, 7), 0.5);
        assert_eq!(t.number_probability(false, 3), 0.125);
        assert_eq!(t.number_probability(false, 31), 0.125);
        assert_eq!(
            t.number_probability(false, 5),
            0.0,
            "a node never run counts as not given"
        );
    }

    #[test]
    fn a_hundred_multiplies_along_its_path_and_the_space_path_adds() {
        let t = trie(
            0.5,
            &[
                ("", &[(1, 0.5)]),
                ("1", &[(0, 1.0)]),
                ("10", &[(0, 0.5)]),
                ("100", &[]),
                (" ", &[(9, 1.0)]),
                (" 9", &[]),
            ],
        );
        assert_eq!(t.number_probability(false, 100), 0.25);
        assert_eq!(t.number_probability(false, 10), 0.25);
        assert_eq!(t.number_probability(false, 1), 0.0);
        assert_eq!(t.number_probability(true, 9), 0.5);
    }

    #[test]
    fn mean_and_mass_floor() {
        let mut probs = vec![0.0; 101];
        probs[20] = 0.1;
        probs[80] = 0.3;
        let d = IntegerDistribution { probs };
        assert!((d.mass() - 0.4).abs() < 1e-12);
        assert!((d.mean(0.25).unwrap() - 65.0).abs() < 1e-9);
        assert_eq!(d.mean(0.5), None);
    }
}
