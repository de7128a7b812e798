//! Batched generation: prompts left-padded to one length, an attention mask
//! hiding the padding, position ids counted from each prompt's first real
//! token, and the KV cache carried between steps. A row stops on an
//! end-of-sequence token, a stop string or `max_new_tokens`; the others go on.

use crate::decoder::{KvCache, Logits, StepInput};
use crate::error::{LmError, Result};
use crate::model::CausalLm;
use crate::sampling::Sampling;

#[derive(Clone, Debug)]
pub struct GenerateParams {
    pub max_new_tokens: usize,
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
    pub ids: Vec<u32>,
    pub stream: u64,
}

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
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Eos => "eos",
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// The generated tokens, without the end-of-sequence token.
    pub token_ids: Vec<u32>,
    /// The decoded response, exactly as the tokenizer gives it.
    pub text: String,
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
        let (mut logits, mut cache) = self.prefill(requests, width)?;
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
            (logits, cache) = if params.use_cache {
                self.decode_step(&rows, width, cache)?
            } else {
                self.full_step(&rows, width)?
            };
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

    /// Runs the left-padded prompts and returns the last position's logits.
    fn prefill(&mut self, requests: &[Request], width: usize) -> Result<(Logits, KvCache)> {
        let batch = requests.len();
        let pad = self.pad_id() as i64;
        let mut ids = Vec::with_capacity(batch * width);
        let mut mask = Vec::with_capacity(batch * width);
        let mut positions = Vec::with_capacity(batch * width);
        for r in requests {
            let padding = width - r.ids.len();
            ids.extend(std::iter::repeat_n(pad, padding).chain(r.ids.iter().map(|&t| t as i64)));
            mask.extend(std::iter::repeat_n(0, padding).chain(std::iter::repeat_n(1, r.ids.len())));
            positions.extend(std::iter::repeat_n(0, padding).chain(0..r.ids.len() as i64));
        }
        let cache = self.decoder.empty_cache(batch)?;
        self.decoder.forward(
            &StepInput {
                batch,
                input_ids: &ids,
                attention_mask: &mask,
                position_ids: &positions,
                keep: 1,
            },
            cache,
        )
    }

    /// Feeds each row's newest token through the cache.
    fn decode_step(
        &mut self,
        rows: &[Row],
        width: usize,
        cache: KvCache,
    ) -> Result<(Logits, KvCache)> {
        let pad = self.pad_id() as i64;
        let total = cache.len + 1;
        let mut ids = Vec::with_capacity(rows.len());
        let mut positions = Vec::with_capacity(rows.len());
        let mut mask = Vec::with_capacity(rows.len() * total);
        for row in rows {
            let prompt = row.request.ids.len();
            ids.push(row.out.last().map_or(pad, |&t| t as i64));
            positions.push((prompt + row.out.len()) as i64 - 1);
            let padding = width - prompt;
            mask.extend(
                std::iter::repeat_n(0, padding).chain(std::iter::repeat_n(1, total - padding)),
            );
        }
        self.decoder.forward(
            &StepInput {
                batch: rows.len(),
                input_ids: &ids,
                attention_mask: &mask,
                position_ids: &positions,
                keep: 1,
            },
            cache,
        )
    }

    /// Re-runs every row's whole sequence with no cache (rows that finished
    /// early are padded on the right; their logits are not read).
    fn full_step(&mut self, rows: &[Row], width: usize) -> Result<(Logits, KvCache)> {
        let pad = self.pad_id() as i64;
        let generated = rows.iter().map(|r| r.out.len()).max().unwrap_or(0);
        let total = width + generated;
        let (mut ids, mut mask, mut positions) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            let padding = width - row.request.ids.len();
            let real: Vec<i64> = row
                .request
                .ids
                .iter()
                .chain(&row.out)
                .map(|&t| t as i64)
                .collect();
            let tail = total - padding - real.len();
            ids.extend(
                std::iter::repeat_n(pad, padding)
                    .chain(real.iter().copied())
                    .chain(std::iter::repeat_n(pad, tail)),
            );
            mask.extend(
                std::iter::repeat_n(0, padding)
                    .chain(std::iter::repeat_n(1, real.len()))
                    .chain(std::iter::repeat_n(0, tail)),
            );
            positions.extend(std::iter::repeat_n(0, padding).chain(0..(real.len() + tail) as i64));
        }
        let cache = self.decoder.empty_cache(rows.len())?;
        self.decoder.forward(
            &StepInput {
                batch: rows.len(),
                input_ids: &ids,
                attention_mask: &mask,
                position_ids: &positions,
                keep: 1,
            },
            cache,
        )
    }
}
