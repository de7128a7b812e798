//! `generate --backend openai`: each response is one request to an
//! OpenAI-compatible server; `--concurrency` of them in flight, rows written
//! in input order, failed requests written as error rows, and `--resume`
//! reusing what an earlier run already paid for.

use std::sync::Arc;

use refinery_api::{
    input_hash, map_ordered, ApiGeneration, ApiGenerator, Failure, Output, HASH_FIELD,
};
use refinery_core::reader::too_long_reason;
use refinery_core::record::{parse_row, with_fields};
use refinery_core::{Error, Result, Row, Tally, Tool};
use serde_json::{json, Value};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::{open_scenarios, scenario_text, Cli};

/// One response to ask for (or to reuse).
struct Job {
    /// The input line and its row, shared by the row's rollouts.
    scenario: Arc<(Vec<u8>, Row)>,
    rollout: u32,
    hash: String,
    reused: Option<Vec<u8>>,
}

pub fn run(cli: &Cli, tool: &mut Tool) -> Result<()> {
    refuse_onnx_options(cli)?;
    let generator = ApiGenerator {
        client: cli.api.client()?,
        model: cli.api.model_name()?.to_string(),
        raw: cli.model.raw,
        max_new_tokens: cli.max_new_tokens,
        temperature: cli.temperature,
        top_p: cli.top_p,
        top_k: cli.top_k,
        stop: cli.stop.clone(),
        logprobs: cli.logprobs,
    };
    let settings = settings(cli, &generator);
    let mut scenarios = open_scenarios(cli, tool)?;
    let mut rejects = cli.common.rejects()?;
    let output = std::cell::RefCell::new(Output::open(cli.api.resume.as_deref(), |row| {
        row["finish_reason"] != "error"
    })?);
    let mut tally = Tally::default();
    let (mut responses, mut failed) = (0u64, 0u64);
    let mut waiting: std::collections::VecDeque<Job> = Default::default();
    let jobs = std::iter::from_fn(|| loop {
        if let Some(job) = waiting.pop_front() {
            return Some(Ok(job));
        }
        let line = match scenarios.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        tally.read += 1;
        let checked = match line.too_long {
            Some(len) => Err(too_long_reason(len, cli.common.max_line_bytes)),
            None => parse_row(&line.bytes).map_err(|e| e.0).and_then(|row| {
                scenario_text(&row)?;
                Ok(row)
            }),
        };
        match checked {
            Ok(row) => {
                tally.written += 1;
                let scenario = Arc::new((line.bytes, row));
                for rollout in 0..cli.rollouts {
                    let hash = input_hash(&settings, &scenario.0, rollout);
                    waiting.push_back(Job {
                        reused: output.borrow_mut().reusable(&hash),
                        scenario: Arc::clone(&scenario),
                        rollout,
                        hash,
                    });
                }
            }
            Err(why) => {
                if let Err(e) = rejects.reject(&line.location, &why, &line.bytes) {
                    return Some(Err(e));
                }
            }
        }
    });
    let ask = |job: Job| answer(job, &generator, cli);
    let sink = |result: Result<Answered, Failure>| -> Result<()> {
        let done = result.map_err(Error::from)?;
        responses += 1;
        failed += u64::from(done.request_failed);
        output.borrow_mut().write(done.line, done.new)
    };
    let outcome = map_ordered(jobs, cli.api.concurrency as usize, ask, sink);
    tool.note(&generator.client.stats.summary());
    outcome?;
    if let Some(note) = output.into_inner().finish()? {
        tool.note(&note);
    }
    tool.note(&format!(
        "{responses} responses, {failed} failed requests (rows with `error`)"
    ));
    tally.blank = scenarios.blank_lines();
    cli.common.finish(tool, tally, rejects)?;
    if failed > 0 {
        return Err(Error::Check(format!(
            "{failed} responses failed (rows with `error`); run again with --resume to retry only those"
        )));
    }
    Ok(())
}

/// A row done: written by this run (`new`) or reused from `--resume`.
struct Answered {
    line: Vec<u8>,
    new: bool,
    request_failed: bool,
}

/// Asks the server for one response (or reuses the earlier run's row); only
/// a failure that ends the run is an `Err`.
fn answer(job: Job, generator: &ApiGenerator, cli: &Cli) -> Result<Answered, Failure> {
    if let Some(line) = job.reused {
        return Ok(Answered {
            line,
            new: false,
            request_failed: false,
        });
    }
    let (prompt, system) = scenario_text(&job.scenario.1).expect("checked when read");
    // A seed of its own per request, fixed by --seed and the row's hash.
    let seed = xxh3_64_with_seed(job.hash.as_bytes(), cli.seed) & 0x7fff_ffff;
    let answer = match generator.generate(system, prompt, seed) {
        Ok(generation) => Ok(generation),
        Err(Failure::Row(why)) => Err(why),
        Err(fatal) => return Err(fatal),
    };
    Ok(Answered {
        request_failed: answer.is_err(),
        line: annotate(&job, answer, cli, &generator.model),
        new: true,
    })
}

fn refuse_onnx_options(cli: &Cli) -> Result<()> {
    if cli.model.model.is_some() || cli.no_kv_cache || cli.no_truncate {
        return Err(Error::usage(
            "--model, --no-kv-cache and --no-truncate are for --backend onnx (the server has its own model and context)",
        ));
    }
    Ok(())
}

/// Everything that changes a response, for `input_hash` (not the URL: the
/// same model behind another server gives the same answers).
fn settings(cli: &Cli, g: &ApiGenerator) -> String {
    json!({
        "tool": "generate", "model": g.model, "raw": g.raw, "max_new_tokens": g.max_new_tokens,
        "temperature": g.temperature, "top_p": g.top_p, "top_k": g.top_k, "stop": g.stop,
        "seed": cli.seed, "logprobs": g.logprobs,
    })
    .to_string()
}

fn annotate(job: &Job, answer: Result<ApiGeneration, String>, cli: &Cli, model: &str) -> Vec<u8> {
    let mut fields: Vec<(&str, Value)> = match answer {
        Ok(g) => {
            let mut f = vec![
                ("response", json!(g.text)),
                ("prompt_token_count", json!(g.prompt_tokens)),
                ("response_token_count", json!(g.completion_tokens)),
                ("finish_reason", json!(g.finish_reason)),
            ];
            if let Some(lps) = g.logprobs {
                let lps: Vec<Value> = lps
                    .into_iter()
                    .map(|(t, lp)| json!({"token": t, "logprob": lp}))
                    .collect();
                f.push(("response_logprobs", json!(lps)));
            }
            f
        }
        Err(why) => vec![
            ("response", Value::Null),
            ("finish_reason", json!("error")),
            ("error", json!(why)),
        ],
    };
    fields.push(("model", json!(model)));
    if cli.rollouts > 1 {
        fields.push(("rollout", json!(job.rollout)));
    }
    fields.push((HASH_FIELD, json!(job.hash)));
    let (bytes, row) = &*job.scenario;
    with_fields(bytes, row, &fields)
}
