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

/// The largest score a judge may answer.
pub const MAX_SCORE: usize = 100;

/// The distribution over 0..=100 (not normalised: see [`Self::mass`]).
#[derive(Clone, Debug, PartialEq)]
pub struct IntegerDistribution {
    /// `probs[n]` is the probability of answering n.
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
    /// The ids of `0`..`9`.
    pub digits: [u32; 10],
    /// The id of a lone space, when the tokenizer has one.
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
/// count as not given. Each such number holds less than this, so the mass
/// is exact to within 2e-3 and a score moves by well under a point; every
/// pruned 2-digit node saves a forward pass over the prefix's cache.
pub const PRUNE_BELOW: f64 = 1e-5;

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

/// Whether a node (an optional leading space, then digits) can still grow
/// into a valid answer 0..=100 without a leading zero.
fn extendable(node: &[u8]) -> bool {
    let digits = node.strip_prefix(b" ").unwrap_or(node);
    match digits {
        [] => true,
        [d] => *d != b'0',
        [b'1', b'0'] => true,
        _ => false,
    }
}

/// A node waiting to be run: its characters and where its parent's cache is.
struct Child {
    node: Vec<u8>,
    token: u32,
    parent: usize,
}

impl CausalLm {
    /// P(answer = n) for n in 0..=100 after `prefix`, through the digits
    /// directly and, with `allow_space`, after a bare space token too.
    ///
    /// The trie is walked a level at a time: each node feeds one token on
    /// top of its parent's cache, so a node costs one token of compute, and
    /// only nodes whose path is likelier than [`PRUNE_BELOW`] are run.
    pub fn integer_distribution(
        &mut self,
        prefix: &[u32],
        tokens: &DigitTokens,
        allow_space: bool,
    ) -> Result<IntegerDistribution> {
        let space = tokens.space.filter(|_| allow_space);
        if prefix.len() + 5 > self.context_length() {
            return Err(LmError::TooLong {
                tokens: prefix.len() + 5,
                limit: self.context_length(),
                context: self.context_length(),
            });
        }
        let mut picks: Vec<u32> = tokens.digits.to_vec();
        picks.push(space.unwrap_or(tokens.digits[0]));
        let pick = |logits: &[f32]| -> [f64; 11] {
            let lp = crate::sampling::log_softmax_at(logits, &picks);
            std::array::from_fn(|i| (lp[i] as f64).exp())
        };
        let (root_logits, root_cache) = self.run_prefix(prefix)?;
        let root = pick(&root_logits);
        let mut trie = Trie {
            p_space: if space.is_some() { root[10] } else { 0.0 },
            after: HashMap::from([(Vec::new(), root)]),
        };
        let mut path_p: HashMap<Vec<u8>, f64> = HashMap::from([(Vec::new(), 1.0)]);
        // Nodes that may have children, each with a one-row cache.
        let mut frontier: Vec<(Vec<u8>, crate::decoder::KvCache)> = vec![(Vec::new(), root_cache)];
        while !frontier.is_empty() {
            let mut children = Vec::new();
            for (i, (node, _)) in frontier.iter().enumerate() {
                let dist = trie.after[node];
                let mut options: Vec<(u8, u32, f64)> = (0..10)
                    .map(|d| (b'0' + d as u8, tokens.digits[d], dist[d]))
                    .collect();
                if let (true, Some(s)) = (node.is_empty(), space) {
                    options.push((b' ', s, dist[10]));
                }
                for (c, token, p) in options {
                    let mut child = node.clone();
                    child.push(c);
                    let p = path_p[node] * p;
                    let digits = child.strip_prefix(b" ").unwrap_or(&child);
                    let valid = digits.is_empty()
                        || extendable(&child[..child.len() - 1])
                            && (digits.len() < 3 || digits == b"100");
                    if valid && p >= PRUNE_BELOW {
                        path_p.insert(child.clone(), p);
                        children.push(Child {
                            node: child,
                            token,
                            parent: i,
                        });
                    }
                }
            }
            let mut next = Vec::new();
            for chunk in children.chunks(CHILD_BATCH) {
                let rows: Vec<(&crate::decoder::KvCache, usize)> =
                    chunk.iter().map(|c| (&frontier[c.parent].1, 0)).collect();
                let cache = self.decoder.gather_rows(&rows)?;
                let ids: Vec<i64> = chunk.iter().map(|c| c.token as i64).collect();
                let total = cache.len + 1;
                let mask = vec![1i64; chunk.len() * total];
                let positions = vec![(total - 1) as i64; chunk.len()];
                let input = crate::decoder::StepInput {
                    batch: chunk.len(),
                    input_ids: &ids,
                    attention_mask: &mask,
                    position_ids: &positions,
                    keep: 1,
                };
                let (logits, present) = self.decoder.forward(&input, cache)?;
                for (b, child) in chunk.iter().enumerate() {
                    trie.after.insert(child.node.clone(), pick(logits.last(b)));
                    if extendable(&child.node) {
                        next.push((
                            child.node.clone(),
                            self.decoder.gather_rows(&[(&present, b)])?,
                        ));
                    }
                }
            }
            frontier = next;
        }
        let starts: &[bool] = if space.is_some() {
            &[false, true]
        } else {
            &[false]
        };
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

/// Trie nodes run per forward pass.
const CHILD_BATCH: usize = 32;

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
