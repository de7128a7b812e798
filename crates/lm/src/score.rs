//! Log-probabilities after a prefix: the next-token distribution, and the
//! total log-probability of given continuations. The prefix runs once; its
//! KV cache is shared by every continuation. The judge uses both: the score
//! of a number is the probability of its digit tokens in order.

use crate::config::PaddingSide;
use crate::decoder::StepInput;
use crate::error::{LmError, Result};
use crate::model::CausalLm;
use crate::sampling::log_softmax;

/// Continuations scored per forward pass at most (bounds the logits held at once).
const CONTINUATION_BATCH: usize = 32;

/// Bytes of repeated prefix cache a batch of continuations may hold. Each
/// continuation carries its own copy of the prefix's cache (and the step
/// returns a grown copy, so the peak is about twice this): 32 copies of a
/// 300-token prefix are 1.1 GB for a 1.5B model with 28 layers, so long
/// prefixes get smaller batches.
const CACHE_BUDGET: usize = 96 << 20;

/// Bytes of logits a batch of continuations may return (every position of
/// every row, over the whole vocabulary: 600 KB a position for Qwen2's
/// 151936 tokens).
const LOGITS_BUDGET: usize = 32 << 20;

/// A prefix that has been run: its length, the next-token log-probs and its cache.
pub struct PrefixState {
    /// Tokens in the prefix.
    pub len: usize,
    /// Log-probabilities of the next token, over the vocabulary.
    pub logprobs: Vec<f32>,
    cache: crate::decoder::KvCache,
}

/// How likely a continuation is after a prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct ContinuationScore {
    /// Sum of the token log-probabilities (natural log).
    pub logprob: f64,
    /// Each token's log-probability.
    pub token_logprobs: Vec<f32>,
}

impl CausalLm {
    /// Log-probabilities of every vocabulary token right after `prefix`.
    pub fn next_token_logprobs(&mut self, prefix: &[u32]) -> Result<Vec<f32>> {
        let (last, _) = self.run_prefix(prefix)?;
        Ok(log_softmax(&last))
    }

    /// Scores each continuation (token ids) after `prefix`.
    pub fn score_continuations(
        &mut self,
        prefix: &[u32],
        continuations: &[Vec<u32>],
    ) -> Result<Vec<ContinuationScore>> {
        if let Some(i) = continuations.iter().position(|c| c.is_empty()) {
            return Err(LmError::Invalid(format!("continuation {i} has no tokens")));
        }
        let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
        if prefix.len() + longest > self.context_length() {
            return Err(LmError::TooLong {
                tokens: prefix.len() + longest,
                limit: self.context_length(),
                context: self.context_length(),
            });
        }
        let (last, cache) = self.run_prefix(prefix)?;
        let first = log_softmax(&last);
        let mut scores = Vec::with_capacity(continuations.len());
        let batch = self.continuation_batch(prefix.len() + longest, longest);
        for chunk in continuations.chunks(batch) {
            let width = chunk.iter().map(Vec::len).max().unwrap_or(1) - 1;
            if width == 0 {
                scores.extend(chunk.iter().map(|c| single(first[c[0] as usize])));
                continue;
            }
            let fed: Vec<Vec<u32>> = chunk.iter().map(|c| c[..c.len() - 1].to_vec()).collect();
            let logits = self.run_after_prefix(prefix.len(), &cache, &fed, width)?;
            for (b, c) in chunk.iter().enumerate() {
                let mut token_logprobs = vec![first[c[0] as usize]];
                for (j, &t) in c.iter().enumerate().skip(1) {
                    token_logprobs.push(log_softmax(logits.row(b, j - 1))[t as usize]);
                }
                scores.push(ContinuationScore {
                    logprob: token_logprobs.iter().map(|&l| l as f64).sum(),
                    token_logprobs,
                });
            }
        }
        Ok(scores)
    }

    /// Runs `prefix` once and keeps its cache, for [`Self::logprobs_along`].
    pub fn prefix_state(&mut self, prefix: &[u32]) -> Result<PrefixState> {
        let (last, cache) = self.run_prefix(prefix)?;
        Ok(PrefixState {
            len: prefix.len(),
            logprobs: log_softmax(&last),
            cache,
        })
    }

    /// For each path (token ids fed after the prefix), the log-probabilities
    /// of the `picks` tokens after each of its tokens. Paths share the
    /// prefix's cache and run in batches.
    pub fn logprobs_along(
        &mut self,
        prefix: &PrefixState,
        paths: &[Vec<u32>],
        picks: &[u32],
    ) -> Result<Vec<Vec<Vec<f32>>>> {
        let pick = |lp: &[f32]| picks.iter().map(|&t| lp[t as usize]).collect::<Vec<f32>>();
        let longest = paths.iter().map(Vec::len).max().unwrap_or(0);
        if prefix.len + longest > self.context_length() {
            return Err(LmError::TooLong {
                tokens: prefix.len + longest,
                limit: self.context_length(),
                context: self.context_length(),
            });
        }
        let mut along = Vec::with_capacity(paths.len());
        let batch = self.continuation_batch(prefix.len + longest, longest);
        for chunk in paths.chunks(batch) {
            let width = chunk.iter().map(Vec::len).max().unwrap_or(0);
            if width == 0 {
                along.extend(chunk.iter().map(|_| Vec::new()));
                continue;
            }
            let logits = self.run_after_prefix(prefix.len, &prefix.cache, chunk, width)?;
            for (b, path) in chunk.iter().enumerate() {
                along.push(
                    (0..path.len())
                        .map(|j| pick(&log_softmax(logits.row(b, j))))
                        .collect(),
                );
            }
        }
        Ok(along)
    }

    /// How many continuations of up to `width` tokens after a prefix
    /// (`total` tokens in all) share one forward pass: as many as
    /// [`CACHE_BUDGET`] and [`LOGITS_BUDGET`] hold, 1 to [`CONTINUATION_BATCH`].
    fn continuation_batch(&self, total: usize, width: usize) -> usize {
        let cache = self.decoder.cache_bytes_per_token() * total.max(1);
        let logits = self.vocab_size() * 4 * width.max(1);
        (CACHE_BUDGET / cache)
            .min(LOGITS_BUDGET / logits)
            .clamp(1, CONTINUATION_BATCH)
    }

    /// Feeds token rows, padded after their end, behind a cached prefix;
    /// logits at every position.
    fn run_after_prefix(
        &mut self,
        prefix_len: usize,
        cache: &crate::decoder::KvCache,
        rows: &[Vec<u32>],
        width: usize,
    ) -> Result<crate::decoder::Logits> {
        if self.padding_side() == PaddingSide::Right && width > 1 {
            return self.step_after_prefix(prefix_len, cache, rows, width);
        }
        let pad = self.pad_id() as i64;
        let (mut ids, mut mask, mut positions) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            let padding = width - row.len();
            ids.extend(
                row.iter()
                    .map(|&t| t as i64)
                    .chain(std::iter::repeat_n(pad, padding)),
            );
            // The padding follows the row's tokens, so causal attention keeps
            // it out of their logits; marking it real keeps every row as wide
            // as the batch, which a packed (right-padded) cache needs.
            mask.extend(std::iter::repeat_n(1, prefix_len + width));
            positions.extend((prefix_len as i64..).take(width));
        }
        let shared = self.decoder.repeat_cache(cache, rows.len())?;
        let input = StepInput {
            batch: rows.len(),
            input_ids: &ids,
            attention_mask: &mask,
            position_ids: &positions,
            keep: 0,
        };
        Ok(self.decoder.forward(&input, shared)?.0)
    }

    /// [`Self::run_after_prefix`] a token at a time: GroupQueryAttention runs
    /// a batch of several rows over a cache only one token per row per pass.
    /// A single row goes the same way, so its scores are the same bits alone
    /// or in a batch. Paths are short (an answer, a number's digits): a pass
    /// per token of the longest one.
    fn step_after_prefix(
        &mut self,
        prefix_len: usize,
        cache: &crate::decoder::KvCache,
        rows: &[Vec<u32>],
        width: usize,
    ) -> Result<crate::decoder::Logits> {
        let pad = self.pad_id() as i64;
        let batch = rows.len();
        let mut cache = self.decoder.repeat_cache(cache, batch)?;
        let mut steps = Vec::with_capacity(width);
        for j in 0..width {
            let ids: Vec<i64> = rows
                .iter()
                .map(|r| r.get(j).map_or(pad, |&t| t as i64))
                .collect();
            let mask = vec![1; batch * (prefix_len + j + 1)];
            let positions = vec![(prefix_len + j) as i64; batch];
            let input = StepInput {
                batch,
                input_ids: &ids,
                attention_mask: &mask,
                position_ids: &positions,
                keep: 1,
            };
            let (logits, grown) = self.decoder.forward(&input, cache)?;
            steps.push(logits);
            cache = grown;
        }
        let vocab = self.vocab_size();
        let mut data = Vec::with_capacity(batch * width * vocab);
        for b in 0..batch {
            for step in &steps {
                data.extend_from_slice(step.last(b));
            }
        }
        Ok(crate::decoder::Logits {
            data,
            batch,
            positions: width,
            vocab,
        })
    }

    /// Runs a prefix alone: its last logits and its cache (batch of one).
    pub(crate) fn run_prefix(
        &mut self,
        prefix: &[u32],
    ) -> Result<(Vec<f32>, crate::decoder::KvCache)> {
        if prefix.is_empty() {
            return Err(LmError::Invalid("the prefix has no tokens".into()));
        }
        // Start from the remembered prefix when this one extends it.
        let (start, cache) = match &self.remembered {
            Some((ids, cache)) if prefix.len() > ids.len() && prefix.starts_with(ids) => {
                (ids.len(), self.decoder.gather_rows(&[(cache, 0)])?)
            }
            _ => (0, self.decoder.empty_cache(1)?),
        };
        let ids: Vec<i64> = prefix[start..].iter().map(|&t| t as i64).collect();
        let mask = vec![1; prefix.len()];
        let positions: Vec<i64> = (start as i64..prefix.len() as i64).collect();
        let input = StepInput {
            batch: 1,
            input_ids: &ids,
            attention_mask: &mask,
            position_ids: &positions,
            keep: 1,
        };
        let (logits, cache) = self.decoder.forward(&input, cache)?;
        Ok((logits.last(0).to_vec(), cache))
    }

    /// Runs `ids` once and keeps their cache: later prefixes that start with
    /// them (a judge prompt's fixed instructions) run only what follows.
    pub fn remember_prefix(&mut self, ids: &[u32]) -> Result<()> {
        self.remembered = None;
        if ids.is_empty() {
            return Ok(());
        }
        let (_, cache) = self.run_prefix(ids)?;
        self.remembered = Some((ids.to_vec(), cache));
        Ok(())
    }

    /// Logits at every position of `ids`, run in one pass with no cache.
    pub fn all_logits(&mut self, ids: &[u32]) -> Result<crate::decoder::Logits> {
        let ids: Vec<i64> = ids.iter().map(|&t| t as i64).collect();
        let mask = vec![1; ids.len()];
        let positions: Vec<i64> = (0..ids.len() as i64).collect();
        let cache = self.decoder.empty_cache(1)?;
        let input = StepInput {
            batch: 1,
            input_ids: &ids,
            attention_mask: &mask,
            position_ids: &positions,
            keep: 0,
        };
        Ok(self.decoder.forward(&input, cache)?.0)
    }
}

fn single(logprob: f32) -> ContinuationScore {
    ContinuationScore {
        logprob: logprob as f64,
        token_logprobs: vec![logprob],
    }
}
