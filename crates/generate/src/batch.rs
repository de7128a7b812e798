//! Scenarios waiting for the model: collected until a batch is full, run
//! together, and written back in input order with the fields `generate` adds.

use std::time::{Duration, Instant};

use refinery_core::record::with_fields;
use refinery_core::writer::JsonlWriter;
use refinery_core::{Result, Row};
use refinery_lm::{CausalLm, GenerateParams, Generation, Request};
use serde_json::{json, Value};

/// A scenario ready to run: its original line and its prompt tokens.
pub struct Scenario {
    pub bytes: Vec<u8>,
    pub row: Row,
    pub ids: Vec<u32>,
    pub dropped: usize,
    /// The scenario's place in the input (0-based), which with the rollout
    /// number picks its random stream.
    pub index: u64,
}

/// Running totals for the summary line and the progress bar.
#[derive(Default)]
pub struct Counts {
    pub responses: u64,
    pub prompt_tokens: u64,
    pub new_tokens: u64,
    pub truncated: u64,
    pub model_time: Duration,
}

pub struct Batch<'a> {
    pub lm: &'a mut CausalLm,
    pub params: &'a GenerateParams,
    pub rollouts: u32,
    pub size: usize,
    pub model_name: &'a str,
    waiting: Vec<Scenario>,
}

impl<'a> Batch<'a> {
    pub fn new(
        lm: &'a mut CausalLm,
        params: &'a GenerateParams,
        rollouts: u32,
        size: usize,
        model_name: &'a str,
    ) -> Self {
        Batch {
            lm,
            params,
            rollouts,
            size,
            model_name,
            waiting: Vec::new(),
        }
    }

    /// Whether the waiting scenarios fill a batch (counting rollouts).
    pub fn is_full(&self) -> bool {
        self.waiting.len() * self.rollouts as usize >= self.size
    }

    pub fn push(&mut self, scenario: Scenario) {
        self.waiting.push(scenario);
    }

    /// Runs the waiting scenarios and writes their rows, in input order.
    pub fn run(
        &mut self,
        out: &mut JsonlWriter<impl std::io::Write>,
        counts: &mut Counts,
    ) -> Result<()> {
        let scenarios = std::mem::take(&mut self.waiting);
        let requests: Vec<Request> = scenarios
            .iter()
            .flat_map(|s| {
                (0..self.rollouts).map(|r| Request {
                    ids: s.ids.clone(),
                    stream: (s.index << 16) | r as u64,
                })
            })
            .collect();
        // Rollouts of one scenario may be split across calls so that no call
        // exceeds the batch size; streams keep the results independent of that.
        let mut generations = Vec::with_capacity(requests.len());
        let started = Instant::now();
        for chunk in requests.chunks(self.size) {
            generations.extend(self.lm.generate(chunk, self.params)?);
        }
        counts.model_time += started.elapsed();
        let mut results = generations.into_iter();
        for scenario in &scenarios {
            for rollout in 0..self.rollouts {
                let generation = results.next().expect("one generation per request");
                out.write_raw_line(&self.annotate(scenario, rollout, &generation))?;
                counts.responses += 1;
                counts.prompt_tokens += scenario.ids.len() as u64;
                counts.new_tokens += generation.token_ids.len() as u64;
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    fn annotate(&self, scenario: &Scenario, rollout: u32, generation: &Generation) -> Vec<u8> {
        let mut fields: Vec<(&str, Value)> = vec![
            ("response", json!(generation.text)),
            ("response_token_ids", json!(generation.token_ids)),
            ("prompt_token_count", json!(scenario.ids.len())),
            ("response_token_count", json!(generation.token_ids.len())),
            ("finish_reason", json!(generation.finish.as_str())),
            ("model", json!(self.model_name)),
        ];
        if self.rollouts > 1 {
            fields.push(("rollout", json!(rollout)));
        }
        if scenario.dropped > 0 {
            fields.push(("prompt_tokens_dropped", json!(scenario.dropped)));
        }
        with_fields(&scenario.bytes, &scenario.row, &fields)
    }
}
