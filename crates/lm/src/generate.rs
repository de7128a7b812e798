//! Batched generation: prompts padded to one length on the side the graph
//! expects (see [`PaddingSide`]), an attention mask hiding the padding,
//! position ids counted from each prompt's first real token, and the KV
//! cache carried between steps. A row stops on an end-of-sequence token, a
//! stop string or `max_new_tokens`; the others go on.

use crate::config::PaddingSide;
use crate::decoder::{KvCache, Logits, StepInput};
use crate::error::{LmError, Result};
use crate::model::CausalLm;
use crate::sampling::Sampling;
use crate::shared_cache::SharedKvCache;

/// What a decoding step reads the past from.
enum Past {
    /// A cache each step copies into new, longer tensors (left-padded graphs;
    /// on right-padded ones, the prompts' cache until the first step).
    Copied(KvCache),
    /// A cache the attention extends in place (right-padded graphs).
    Shared(Box<SharedKvCache>),
    /// None: each step re-runs every row's whole sequence.
    Recomputed,
}

/// How to continue prompts.
#[derive(Clone, Debug)]
pub struct GenerateParams {
    /// Most tokens per response.
    pub max_new_tokens: usize,
    /// Greedy or sampled, and the seed.
    pub sampling: Sampling,
    /// Strings that end a response; the response is cut before the first one.
    pub stop: Vec<String>,
    /// Off: every step re-runs the whole sequence (for benchmarks and tests).
    pub use_cache: bool,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_new_tokens: 50,
            sampling: Sampling::default(),
            stop: Vec::new(),
            use_cache: true,
        }
    }
}

/// One prompt to continue; `stream` picks its random stream when sampling.
#[derive(Clone, Debug)]
pub struct Request {
    /// The prompt's token ids.
    pub ids: Vec<u32>,
    /// Its random stream: the same stream and seed draw the same tokens.
    pub stream: u64,
}

/// Why a response ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The model produced an end-of-sequence token (not part of the response).
    Eos,
    /// A stop string appeared; the text ends before it.
    Stop,
    /// `max_new_tokens` were produced.
    Length,
}

impl Finish {
    /// The reason as rows record it in `finish_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Eos => "eos",
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

/// One continued prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// The generated tokens, without the end-of-sequence token.
    pub token_ids: Vec<u32>,
    /// The decoded response, exactly as the tokenizer gives it.
    pub text: String,
    /// Why it ended.
    pub finish: Finish,
}

/// Per-row state during a batch.
struct Row<'a> {
    request: &'a Request,
    rng: rand_chacha::ChaCha8Rng,
    out: Vec<u32>,
    done: Option<(Finish, String)>,
}

impl CausalLm {
    /// A request to continue `prompt` formatted in `mode`, its first tokens
    /// dropped if it must make room for `max_new_tokens` in the context.
    pub fn request(
        &self,
        mode: crate::PromptMode,
        system: Option<&str>,
        prompt: &str,
        max_new_tokens: usize,
        stream: u64,
    ) -> Result<Request> {
        let ids = self.encode(&self.format(mode, system, prompt)?)?;
        let fitted = self.fit(ids, max_new_tokens, true)?;
        Ok(Request {
            ids: fitted.ids,
            stream,
        })
    }

    /// Continues every prompt; results in the order of `requests`.
    pub fn generate(
        &mut self,
        requests: &[Request],
        params: &GenerateParams,
    ) -> Result<Vec<Generation>> {
        params.sampling.check()?;
        if params.max_new_tokens == 0 {
            return Err(LmError::Invalid("max-new-tokens must be at least 1".into()));
        }
        if let Some(i) = requests.iter().position(|r| r.ids.is_empty()) {
            return Err(LmError::Invalid(format!("prompt {i} has no tokens")));
        }
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows: Vec<Row> = requests
            .iter()
            .map(|request| Row {
                request,
                rng: params.sampling.stream(request.stream),
                out: Vec::new(),
                done: None,
            })
            .collect();
        let width = requests.iter().map(|r| r.ids.len()).max().unwrap_or(0);
        let (mut logits, cache) = self.prefill(requests, width)?;
        self.note_cache(cache.batch * cache.len);
        let mut past = if params.use_cache {
            Past::Copied(cache)
        } else {
            Past::Recomputed
        };
        // The most positions a row's cache holds: the last token is never fed.
        let limit = width.saturating_add(params.max_new_tokens - 1);
        loop {
            for (b, row) in rows
                .iter_mut()
                .enumerate()
                .filter(|(_, r)| r.done.is_none())
            {
                let token = params.sampling.pick(logits.last(b), &mut row.rng);
                row.done = self.advance(row, token, params)?;
            }
            if rows.iter().all(|r| r.done.is_some()) {
                break;
            }
            logits = match past {
                Past::Recomputed => {
                    // The step's own cache, built and dropped: it counts too.
                    let (logits, cache) = self.full_step(&rows, width)?;
                    self.note_cache(cache.batch * cache.len);
                    logits
                }
                // Right-padded graphs move the prompts' cache, at the first
                // step that reads it, into one the attention extends in place.
                Past::Copied(cache) if self.padding_side() == PaddingSide::Right => {
                    let mut shared = Box::new(self.decoder.share_cache(&cache, limit)?);
                    drop(cache);
                    let step = self.decode_step(&rows, width, shared.len);
                    let logits = self.decoder.forward_shared(&step.input(), &mut shared)?;
                    past = Past::Shared(shared);
                    logits
                }
                Past::Copied(cache) => {
                    let step = self.decode_step(&rows, width, cache.len);
                    let (logits, grown) = self.decoder.forward(&step.input(), cache)?;
                    past = Past::Copied(grown);
                    logits
                }
                Past::Shared(ref mut cache) => {
                    let step = self.decode_step(&rows, width, cache.len);
                    self.decoder.forward_shared(&step.input(), cache)?
                }
            };
            match &past {
                Past::Copied(cache) => self.note_cache(cache.batch * cache.len),
                Past::Shared(cache) => self.note_cache(cache.batch * cache.capacity()),
                Past::Recomputed => {}
            }
        }
        rows.into_iter()
            .map(|row| {
                let (finish, text) = row.done.expect("every row finished");
                Ok(Generation {
                    token_ids: row.out,
                    text,
                    finish,
                })
            })
            .collect()
    }

    /// Records a cache of `positions` (rows × positions per row) for
    /// `kv_cache_peak`.
    fn note_cache(&mut self, positions: usize) {
        let bytes = positions * self.decoder.cache_bytes_per_token();
        self.kv_cache_peak = self.kv_cache_peak.max(bytes);
    }

    /// Adds `token` to a row and says whether (and how) the row is finished.
    fn advance(
        &self,
        row: &mut Row,
        token: u32,
        params: &GenerateParams,
    ) -> Result<Option<(Finish, String)>> {
        if self.is_eos(token) {
            return Ok(Some((Finish::Eos, self.decode(&row.out)?)));
        }
        row.out.push(token);
        if !params.stop.is_empty() {
            let text = self.decode(&row.out)?;
            if let Some(cut) = params
                .stop
                .iter()
                .filter_map(|s| text.find(s.as_str()))
                .min()
            {
                return Ok(Some((Finish::Stop, text[..cut].to_string())));
            }
        }
        if row.out.len() >= params.max_new_tokens {
            return Ok(Some((Finish::Length, self.decode(&row.out)?)));
        }
        Ok(None)
    }

    /// Runs the padded prompts and returns each row's last logits.
    fn prefill(&mut self, requests: &[Request], width: usize) -> Result<(Logits, KvCache)> {
        let batch = requests.len();
        let mut step = Padded::new(self.padding_side(), self.pad_id() as i64);
        for r in requests {
            let real: Vec<i64> = r.ids.iter().map(|&t| t as i64).collect();
            step.push(&real, width - real.len(), width);
        }
        let cache = self.decoder.empty_cache(batch)?;
        self.decoder.forward(&step.input(batch), cache)
    }

    /// The step that feeds each row's newest token after `cached` positions.
    fn decode_step(&self, rows: &[Row], width: usize, cached: usize) -> NextTokens {
        let pad = self.pad_id() as i64;
        let total = cached + 1;
        let mut next = NextTokens {
            ids: Vec::with_capacity(rows.len()),
            positions: Vec::with_capacity(rows.len()),
            mask: Vec::with_capacity(rows.len() * total),
        };
        for row in rows {
            let prompt = row.request.ids.len();
            // This row's real tokens once the one fed now is in the cache (a
            // row that ended on its first token is fed a pad, and not read).
            let real = prompt + row.out.len().max(1);
            next.ids.push(row.out.last().map_or(pad, |&t| t as i64));
            next.positions.push(real as i64 - 1);
            match self.padding_side() {
                PaddingSide::Left => {
                    let padding = width - prompt;
                    next.mask.extend(
                        std::iter::repeat_n(0, padding)
                            .chain(std::iter::repeat_n(1, total - padding)),
                    );
                }
                PaddingSide::Right => next.mask.extend(
                    std::iter::repeat_n(1, real).chain(std::iter::repeat_n(0, total - real)),
                ),
            }
        }
        next
    }

    /// Re-runs every row's whole sequence with no cache (rows that finished
    /// early are shorter; their logits are not read).
    fn full_step(&mut self, rows: &[Row], width: usize) -> Result<(Logits, KvCache)> {
        let generated = rows.iter().map(|r| r.out.len()).max().unwrap_or(0);
        let mut step = Padded::new(self.padding_side(), self.pad_id() as i64);
        for row in rows {
            let real: Vec<i64> = row
                .request
                .ids
                .iter()
                .chain(&row.out)
                .map(|&t| t as i64)
                .collect();
            step.push(&real, width - row.request.ids.len(), width + generated);
        }
        let cache = self.decoder.empty_cache(rows.len())?;
        self.decoder.forward(&step.input(rows.len()), cache)
    }
}

/// One token per row after a cache: ids, positions and the mask.
struct NextTokens {
    ids: Vec<i64>,
    positions: Vec<i64>,
    mask: Vec<i64>,
}

impl NextTokens {
    fn input(&self) -> StepInput<'_> {
        StepInput {
            batch: self.ids.len(),
            input_ids: &self.ids,
            attention_mask: &self.mask,
            position_ids: &self.positions,
            keep: 1,
        }
    }
}

/// Rows of tokens padded to one width, with no cache before them.
struct Padded {
    side: PaddingSide,
    pad: i64,
    ids: Vec<i64>,
    mask: Vec<i64>,
    positions: Vec<i64>,
}

impl Padded {
    fn new(side: PaddingSide, pad: i64) -> Self {
        Padded {
            side,
            pad,
            ids: Vec::new(),
            mask: Vec::new(),
            positions: Vec::new(),
        }
    }

    /// Adds a row of `real` tokens in a row `width` wide. Left padding puts
    /// `lead` pad tokens before them (a prompt's own padding, so that a row's
    /// prompt ends at the same column as the longest one) and the rest after;
    /// right padding puts them all after.
    fn push(&mut self, real: &[i64], lead: usize, width: usize) {
        let lead = match self.side {
            PaddingSide::Left => lead,
            PaddingSide::Right => 0,
        };
        let tail = width - lead - real.len();
        let pads = |n| std::iter::repeat_n(self.pad, n);
        let ids: Vec<i64> = pads(lead)
            .chain(real.iter().copied())
            .chain(pads(tail))
            .collect();
        self.ids.extend(ids);
        self.mask.extend(
            std::iter::repeat_n(0, lead)
                .chain(std::iter::repeat_n(1, real.len()))
                .chain(std::iter::repeat_n(0, tail)),
        );
        self.positions.extend(
            std::iter::repeat_n(0, lead)
                .chain(0..real.len() as i64)
                .chain(std::iter::repeat_n(0, tail)),
        );
    }

    fn input(&self, batch: usize) -> StepInput<'_> {
        StepInput {
            batch,
            input_ids: &self.ids,
            attention_mask: &self.mask,
            position_ids: &self.positions,
            keep: 1,
        }
    }
}
