//! Log-probabilities after a prefix: the next-token distribution, and the
//! total log-probability of given continuations. The prefix runs once; its
//! KV cache is shared by every continuation. The judge uses both: the score
//! of a number is the probability of its digit tokens in order.

use crate::config::PaddingSide;
use crate::decoder::StepInput;
use crate::error::{LmError, Result};
use crate::model::CausalLm;
use crate::sampling::{log_softmax, log_softmax_at};

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
        self.check_fits(prefix.len() + longest)?;
        let (last, cache) = self.run_prefix(prefix)?;
        let first = log_softmax(&last);
        let mut token_logprobs: Vec<Vec<f32>> = continuations
            .iter()
            .map(|c| vec![first[c[0] as usize]])
            .collect();
        // Each token after the first is scored on the logits after the ones before it.
        let fed: Vec<&[u32]> = continuations.iter().map(|c| &c[..c.len() - 1]).collect();
        self.visit_after_prefix(prefix.len(), &cache, &fed, &mut |i, j, logits| {
            let next = continuations[i][j + 1];
            token_logprobs[i].push(log_softmax_at(logits, &[next])[0]);
        })?;
        Ok(token_logprobs
            .into_iter()
            .map(|token_logprobs| ContinuationScore {
                logprob: token_logprobs.iter().map(|&l| l as f64).sum(),
                token_logprobs,
            })
            .collect())
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
        let longest = paths.iter().map(Vec::len).max().unwrap_or(0);
        self.check_fits(prefix.len + longest)?;
        let mut along: Vec<Vec<Vec<f32>>> =
            paths.iter().map(|p| Vec::with_capacity(p.len())).collect();
        let fed: Vec<&[u32]> = paths.iter().map(Vec::as_slice).collect();
        self.visit_after_prefix(prefix.len, &prefix.cache, &fed, &mut |i, _, logits| {
            along[i].push(log_softmax_at(logits, picks));
        })?;
        Ok(along)
    }

    fn check_fits(&self, tokens: usize) -> Result<()> {
        if tokens > self.context_length() {
            return Err(LmError::TooLong {
                tokens,
                limit: self.context_length(),
                context: self.context_length(),
            });
        }
        Ok(())
    }

    /// Feeds every row behind a cached prefix of `prefix_len` tokens and
    /// calls `visit(i, j, logits)` with the logits after row `i`'s first
    /// `j + 1` tokens, for every token of every row (empty rows get no
    /// call). Rows run longest first in batches that fit [`CACHE_BUDGET`]
    /// and [`LOGITS_BUDGET`], so a batch's rows are of similar length.
    fn visit_after_prefix(
        &mut self,
        prefix_len: usize,
        cache: &crate::decoder::KvCache,
        rows: &[&[u32]],
        visit: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> Result<()> {
        let mut order: Vec<usize> = (0..rows.len()).filter(|&i| !rows[i].is_empty()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(rows[i].len()));
        let stepped = self.padding_side() == PaddingSide::Right;
        let mut rest = &order[..];
        while let Some(&widest) = rest.first() {
            let width = rows[widest].len();
            // Stepping keeps one position of logits per row and pass.
            let logits_positions = if stepped { 1 } else { width };
            let batch = self
                .continuation_batch(prefix_len + width, logits_positions)
                .min(rest.len());
            let (chunk, later) = rest.split_at(batch);
            if stepped {
                self.step_after_prefix(prefix_len, cache, rows, chunk, visit)?;
            } else {
                self.run_after_prefix(prefix_len, cache, rows, chunk, visit)?;
            }
            rest = later;
        }
        Ok(())
    }

    /// How many rows after a prefix (`total` tokens in all, `positions`
    /// of logits kept per row and pass) share one forward pass: as many as
    /// [`CACHE_BUDGET`] and [`LOGITS_BUDGET`] hold, 1 to [`CONTINUATION_BATCH`].
    fn continuation_batch(&self, total: usize, positions: usize) -> usize {
        let cache = self.decoder.cache_bytes_per_token() * total.max(1);
        let logits = self.vocab_size() * 4 * positions.max(1);
        (CACHE_BUDGET / cache)
            .min(LOGITS_BUDGET / logits)
            .clamp(1, CONTINUATION_BATCH)
    }

    /// [`Self::visit_after_prefix`] for the rows `chunk` (longest first) in
    /// one pass: every row padded after its end to the longest's width.
    fn run_after_prefix(
        &mut self,
        prefix_len: usize,
        cache: &crate::decoder::KvCache,
        rows: &[&[u32]],
        chunk: &[usize],
        visit: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> Result<()> {
        let width = rows[chunk[0]].len();
        let pad = self.pad_id() as i64;
        let (mut ids, mut mask, mut positions) = (Vec::new(), Vec::new(), Vec::new());
        for &i in chunk {
            let padding = width - rows[i].len();
            ids.extend(
                rows[i]
                    .iter()
                    .map(|&t| t as i64)
                    .chain(std::iter::repeat_n(pad, padding)),
            );
            // The padding follows the row's tokens, so causal attention keeps
            // it out of their logits.
            mask.extend(std::iter::repeat_n(1, prefix_len + width));
            positions.extend((prefix_len as i64..).take(width));
        }
        let shared = self.decoder.repeat_cache(cache, chunk.len())?;
        let input = StepInput {
            batch: chunk.len(),
            input_ids: &ids,
            attention_mask: &mask,
            position_ids: &positions,
            keep: 0,
        };
        let logits = self.decoder.forward(&input, shared)?.0;
        for (b, &i) in chunk.iter().enumerate() {
            for j in 0..rows[i].len() {
                visit(i, j, logits.row(b, j));
            }
        }
        Ok(())
    }

    /// [`Self::visit_after_prefix`] for the rows `chunk` (longest first) a
    /// token at a time: GroupQueryAttention runs a batch of several rows
    /// over a cache only one token per row per pass. A row leaves the
    /// batch when its tokens are done, so a pass costs what its rows need.
    /// A single row goes the same way, so its logits are the same bits
    /// alone or in a batch.
    fn step_after_prefix(
        &mut self,
        prefix_len: usize,
        cache: &crate::decoder::KvCache,
        rows: &[&[u32]],
        chunk: &[usize],
        visit: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> Result<()> {
        let mut cache = self.decoder.repeat_cache(cache, chunk.len())?;
        for j in 0..rows[chunk[0]].len() {
            let active = chunk.iter().take_while(|&&i| rows[i].len() > j).count();
            if active < cache.batch {
                let kept: Vec<_> = (0..active).map(|r| (&cache, r)).collect();
                cache = self.decoder.gather_rows(&kept)?;
            }
            let ids: Vec<i64> = chunk[..active].iter().map(|&i| rows[i][j] as i64).collect();
            let mask = vec![1; active * (prefix_len + j + 1)];
            let positions = vec![(prefix_len + j) as i64; active];
            let input = StepInput {
                batch: active,
                input_ids: &ids,
                attention_mask: &mask,
                position_ids: &positions,
                keep: 1,
            };
            let (logits, grown) = self.decoder.forward(&input, cache)?;
            for (b, &i) in chunk[..active].iter().enumerate() {
                visit(i, j, logits.last(b));
            }
            cache = grown;
        }
        Ok(())
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
