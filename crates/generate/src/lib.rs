//! `generate`: continue scenario prompts with a causal LM on ONNX Runtime
//! (stage 1 of the refinement loop).
//!
//! ```text
//! generate [OPTIONS] [FILE...]
//! generate scenarios.jsonl > responses.jsonl
//! generate --raw --positive positive.txt --negative negative.txt > responses.jsonl
//! generate --temperature 0.8 --top-p 0.95 --rollouts 4 --seed 1 scenarios.jsonl
//! ```
//!
//! Adds `response` (the completion exactly as decoded: never stripped, never
//! joined to the prompt), `response_token_ids`, `prompt_token_count`,
//! `response_token_count`, `finish_reason` (`eos`, `stop`, `length`),
//! `model`, and with `--rollouts N > 1`, `rollout`.

mod batch;
mod remote;

use clap::Parser;
use refinery_api::ApiArgs;
use refinery_core::reader::too_long_reason;
use refinery_core::record::parse_row;
use refinery_core::writer::JsonlWriter;
use refinery_core::{CommonArgs, Error, Result, Row, Tally, Tool};
use refinery_lm::{CausalLm, GenerateParams, ModelArgs, PromptMode, Sampling};

use batch::{Batch, Counts, Scenario};
use refinery_core::trait_files::{
    trait_name, ScenarioArgs, ScenarioLine, ScenarioSource as Scenarios,
};

const AFTER_HELP: &str = "\
Input rows need `prompt` (a string) and may have `system_prompt`; every other field is
kept. With --chat (the default for models whose lm.json has a chat template) the model
sees its chat template filled with the system prompt (or the template's default) and
the prompt as the user's message; with --raw it sees the prompt text itself (with a
system prompt, if any, before it and a blank line), to continue it.

Decoding: greedy at --temperature 0 (the default); otherwise seeded sampling with
--top-k and --top-p. Each response draws from its own random stream, fixed by --seed,
the row's place in the input and the rollout number, so results do not depend on
--batch-size. A response ends at an end-of-sequence token (not included), at a --stop
string (the response ends before it), or after --max-new-tokens.

Context: a prompt that leaves fewer than --max-new-tokens tokens of the model's
context loses its first tokens (the row gets `prompt_tokens_dropped`, and stderr
counts them); with --no-truncate such a row is rejected instead.

Models: ONNX Runtime is found through ORT_DYLIB_PATH, then the project cache
(REFINERY_CACHE, default .cache/refinery; `make runtime` fills it), then the system.
The default model is SmolLM2-135M-Instruct, converted by `make models`.

--backend openai: each response is one request to an OpenAI-compatible server
(--base-url, --api-model; key from $OPENAI_API_KEY or --api-key-env): chat
completions, or completions with --raw. --concurrency requests in flight, rows in
input order; 429/5xx/timeouts retried with backoff (Retry-After obeyed); a row whose
requests all fail gets `error` (and the run exits 1); --resume FILE keeps finished
rows and re-asks only the rest. Rows get `input_hash`. See the README.";

/// Continue scenario prompts with a causal LM on ONNX Runtime
#[derive(Parser, Debug)]
#[command(name = "generate", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub model: ModelArgs,

    #[command(flatten)]
    pub api: ApiArgs,

    #[command(flatten)]
    pub scenarios: ScenarioArgs,

    /// The trait, for rows from --positive/--negative [default: the name of
    /// the directory holding the positive file]
    #[arg(long = "trait", value_name = "NAME", requires = "positive")]
    pub trait_name: Option<String>,

    /// Most tokens to generate per response
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_new_tokens: usize,

    /// Sampling temperature; 0 is greedy decoding
    #[arg(long, value_name = "T", default_value_t = 0.0)]
    pub temperature: f32,

    /// Nucleus sampling: draw from the likeliest tokens holding this much mass
    #[arg(long, value_name = "P", default_value_t = 1.0)]
    pub top_p: f32,

    /// Draw from the K likeliest tokens only (0 = no limit)
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub top_k: usize,

    /// Seed for sampling
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Responses per scenario (rows get `rollout`)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub rollouts: u32,

    /// End a response at this string (repeatable); the response ends before it
    #[arg(long, value_name = "STRING")]
    pub stop: Vec<String>,

    /// Reject prompts longer than the context instead of dropping their
    /// first tokens (which is counted and reported on stderr)
    #[arg(long)]
    pub no_truncate: bool,

    /// openai: ask the server for each response token's log-probability
    /// (`response_logprobs`); llama-cpp-python answers about 5x slower with it
    #[arg(long, help_heading = "Backend options")]
    pub logprobs: bool,

    /// Re-run the whole sequence at every step instead of keeping the KV
    /// cache (slow; for benchmarks and checks)
    #[arg(long)]
    pub no_kv_cache: bool,
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let params = GenerateParams {
        max_new_tokens: cli.max_new_tokens,
        sampling: Sampling {
            temperature: cli.temperature,
            top_p: cli.top_p,
            top_k: cli.top_k,
            seed: cli.seed,
        },
        stop: cli.stop.clone(),
        use_cache: !cli.no_kv_cache,
    };
    params.sampling.check()?;
    if cli.max_new_tokens == 0 {
        return Err(Error::usage("--max-new-tokens must be at least 1"));
    }
    if cli.stop.iter().any(String::is_empty) {
        return Err(Error::usage("--stop needs a non-empty string"));
    }
    cli.api.check_backend()?;
    if cli.logprobs && !cli.api.is_openai() {
        return Err(Error::usage("--logprobs needs --backend openai"));
    }
    if cli.api.is_openai() {
        return remote::run(&cli, tool);
    }
    let mut scenarios = open_scenarios(&cli, tool)?;
    let mut lm = cli.model.load()?;
    let mode = cli.model.prompt_mode(&lm);
    let model_name = cli.model.model_name(&lm);
    let progress = refinery_core::progress::Progress::new(cli.common.messages.quiet, None);
    let mut rejects = cli.common.rejects()?;
    let mut out = JsonlWriter::stdout();
    let mut tally = Tally::default();
    let mut counts = Counts::default();
    let size = cli.model.batch_size as usize;
    let mut batch = Batch::new(&mut lm, &params, cli.rollouts, size, &model_name);
    while let Some(line) = scenarios.next_line()? {
        tally.read += 1;
        match prepare(&line, batch.lm, mode, &cli, tally.read - 1) {
            Ok(scenario) => {
                counts.truncated += u64::from(scenario.dropped > 0);
                batch.push(scenario);
                tally.written += 1;
            }
            Err(why) => rejects.reject(&line.location, &why, &line.bytes)?,
        }
        if batch.is_full() {
            batch.run(&mut out, &mut counts)?;
            show_progress(&progress, &tally, &counts);
        }
    }
    if !batch.is_empty() {
        batch.run(&mut out, &mut counts)?;
    }
    progress.finish();
    out.flush()?;
    tally.blank = scenarios.blank_lines();
    report(tool, &counts, batch.lm.kv_cache_peak(), &cli);
    cli.common.finish(tool, tally, rejects)
}

pub(crate) fn open_scenarios(cli: &Cli, tool: &Tool) -> Result<Scenarios> {
    cli.scenarios.open(&cli.common, tool, |positive| {
        trait_name(cli.trait_name.as_deref(), positive, "--positive", tool)
    })
}

/// Checks a scenario line and tokenises its prompt; the error is the reason
/// the row is rejected.
fn prepare(
    line: &ScenarioLine,
    lm: &CausalLm,
    mode: PromptMode,
    cli: &Cli,
    index: u64,
) -> Result<Scenario, String> {
    if let Some(len) = line.too_long {
        return Err(too_long_reason(len, cli.common.max_line_bytes));
    }
    let row: Row = parse_row(&line.bytes).map_err(|e| e.0)?;
    let (prompt, system) = scenario_text(&row)?;
    let text = lm.format(mode, system, prompt).map_err(|e| e.to_string())?;
    let ids = lm.encode(&text).map_err(|e| e.to_string())?;
    if ids.is_empty() {
        return Err("the prompt has no tokens".into());
    }
    let fitted = lm
        .fit(ids, cli.max_new_tokens, !cli.no_truncate)
        .map_err(|e| e.to_string())?;
    Ok(Scenario {
        bytes: line.bytes.clone(),
        row,
        ids: fitted.ids,
        dropped: fitted.dropped,
        index,
    })
}

/// The row's `prompt` and optional `system_prompt`, checked; both backends
/// read them here.
pub(crate) fn scenario_text(row: &Row) -> Result<(&str, Option<&str>), String> {
    let prompt = match row.get("prompt") {
        Some(serde_json::Value::String(p)) if !p.is_empty() => p.as_str(),
        Some(serde_json::Value::String(_)) => return Err("`prompt` is empty".into()),
        Some(other) => {
            return Err(format!(
                "`prompt` is {}, expected a string",
                refinery_core::record::type_name(other)
            ))
        }
        None => return Err("no `prompt` field (the scenario text, a string)".into()),
    };
    let system = match row.get("system_prompt") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.as_str()),
        Some(other) => {
            return Err(format!(
                "`system_prompt` is {}, expected a string",
                refinery_core::record::type_name(other)
            ))
        }
    };
    Ok((prompt, system))
}

fn show_progress(progress: &refinery_core::progress::Progress, tally: &Tally, counts: &Counts) {
    let seconds = counts.model_time.as_secs_f64().max(1e-9);
    progress.update_now(tally.read, tally.read);
    progress.set_message(format!(
        "{} responses, {:.1} rows/s, {:.0} new tokens/s",
        counts.responses,
        counts.responses as f64 / seconds,
        counts.new_tokens as f64 / seconds
    ));
}

/// The summary lines; `kv_cache_peak` in bytes.
fn report(tool: &Tool, counts: &Counts, kv_cache_peak: usize, cli: &Cli) {
    let seconds = counts.model_time.as_secs_f64();
    tool.note(&format!(
        "{} responses, {} prompt tokens, {} new tokens in {:.1} s of model time ({:.1} new tokens/s); \
         KV cache at its largest {:.1} MB",
        counts.responses,
        counts.prompt_tokens,
        counts.new_tokens,
        seconds,
        counts.new_tokens as f64 / seconds.max(1e-9),
        kv_cache_peak as f64 / 1e6
    ));
    if counts.truncated > 0 {
        tool.say(&format!(
            "warning: {} prompts did not fit the context with {} new tokens and lost their first tokens \
             (see prompt_tokens_dropped; --no-truncate rejects them instead)",
            counts.truncated, cli.max_new_tokens
        ));
    }
}
