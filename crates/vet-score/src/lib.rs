//! `vet-score`: score scenarios or responses 0-100 for how strongly they
//! express a trait, and give each a verdict (the vetting stages of the
//! refinement loop).
//!
//! ```text
//! vet-score --stage scenario --definition definition.txt scenarios.jsonl
//! vet-score --stage response --definition definition.txt --paired --summary response_scores.json responses.jsonl
//! vet-score --judge embed --stage response --definition definition.txt responses.jsonl
//! ```
//!
//! Adds `scenario_vet` or `response_vet`: `{"score", "verdict", "judge"}`,
//! with `mass` (LM judge), `error` (no score) and `failed_by_pair` (`--paired`).

mod coherence;
mod judges;
mod rows;
mod verdict;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use refinery_api::{input_hash, ApiArgs, Followups, Output};
use refinery_core::experiment::{python_json, response_rows};
use refinery_core::reader::too_long_reason;
use refinery_core::record::parse_row;
use refinery_core::trait_files::{ScenarioArgs, ScenarioSource};
use refinery_core::writer::write_file_atomically;
use refinery_core::{CommonArgs, Error, Result, Row, Tally, Tool};
use refinery_lm::{
    first_words, Calibration, Definition, Judgement, ModelArgs, PairOrder, RunCalibration,
    Separation,
};

use judges::{open_judge, AnyJudge};
use rows::{request_failed, row_line, score_and_record};
use serde_json::Value;

pub use verdict::{apply_pairs, round2, summary, verdict, Polarity, Scored, Thresholds, Verdict};

const AFTER_HELP: &str = "\
Stages: `scenario` asks the judge whether a completion of `prompt` will express the
trait (it sees no generated text); `response` judges the first --words words of
`response`, with `prompt` as context unless --no-prefix. Rows need `polarity`.

--judge lm: the model gets a prompt template filled with {trait},
{definition}, {prompt} and {response} as the user's message (its chat template,
or the text itself with --raw), then `Score:` (--answer-lead). The score is the
probability-weighted mean over the integers 0..100, each integer's probability
computed over its digit tokens (a leading space allowed); with less than --min-mass
of the probability on those integers the score is null (verdict `error`). The
templates are pipelines/judge/scenario.txt, response.txt and response_no_prefix.txt
(built in); --template FILE uses your own.

--judge embed: MiniLM sentence embeddings (or --model DIR) of the text (scenario
stage: the prompt; response stage: the first words of the response) against the
definition's HIGH and LOW bands (each band's text and its quoted example phrases):
score = 100 / (1 + exp(-(s_high - s_low) / 0.05)), s = the best cosine similarity.

--judge likelihood (default with the local backend): no number is asked for. The model (default: the model under
study, SmolLM2) reads the text followed by `In one word, the speaker here is`, and
the judge compares how likely it finds the definition's HIGH phrases against its LOW
phrases there (each band's quoted example phrases and its clauses of one to four
words): d = mean log-probability per token of the HIGH phrases minus that of the LOW
phrases (written to the row as `contrast`). --calibration run (default): scores are
calibrated on this run's rows, score = 100 / (1 + exp(-ln 4 (d - median) / (IQR/2))):
the median row scores 50, the quartiles 20 and 80, so with about as many positives as
negatives the 60/40 thresholds pass the rows clearly on their own side of the middle
(the polarity labels are not used; a file of one polarity only needs --calibration
fixed). --calibration fixed: score = 100 / (1 + exp(-(d - d0) / 0.1)), d0 the
contrast with no text, so a text that says nothing about the trait scores 50; its
scale suits SmolLM2, not every model. Scenario stage: the prompt; response stage: the
prompt and the first --words of the response.

Self-check: the rows carry their own labels (positives are meant to express the
trait, negatives not), so every run reports how well its judge separates them on
this data: the AUC of positive vs negative scores (0.5 is chance, 1 perfect) and
the mean gap, on stderr and as `self_check` in --summary. Below --min-auc (0.75)
the run warns that this judge cannot tell this trait's positives from its
negatives, so its verdicts are not evidence; with few rows it says that chance
alone could reach the floor instead.

Verdicts: a positive passes at score >= --pos-threshold, a negative at
<= --neg-threshold; between them is `ambiguous`, the wrong side `fail`, no score
`error`; all but `pass` are failures. --paired fails both rows of a `pair` when
either fails. --summary writes trait-interp's scenario_scores.json or
response_scores.json (an `idx` is the row's position in trait-interp's files:
its `pair`, and `rollout` x scenarios + pair with rollouts); pass rates per
polarity go to stderr. Rows are written when every row has been scored.

--coherence (response stage) adds `coherence`: {empty, repeated, score, verdict,
reason}. `empty`: nothing but whitespace. `repeated`: the share of the whole
response's word 3-grams that repeat an earlier one (a loop); at --max-repeated
(0.3) or more it is incoherent. `score`: the judge's model (local likelihood or
lm judge; null otherwise) on the prompt followed by the whole response, with the
likelihood judge's method and built-in anchors (HIGH: clear, coherent, focused,
articulate, making sense; LOW: rambling, repetitive, incoherent, babbling,
nonsensical), fixed calibration; below --min-coherence (20; 0 records the score
without using it) it is incoherent. On 40 hand-written completions
(bench/coherence_quality.py) the judge on Qwen2.5-Coder-1.5B ranks coherent above
incoherent at AUC 0.96; at 20 it keeps 20/20 coherent ones and catches 7/20
incoherent ones (at 50: 20/20 and 10/20); it misses fluent word salad. The verdict
does not change the trait verdict; the report and export-trait read it.

Input: JSON Lines (files or stdin), --positive/--negative scenario files, or
--responses DIR: trait-interp's responses files (pos.json, neg.json), entry i of
each being pair i, so responses generated elsewhere can be vetted here.

--backend openai: the same LM judge on an OpenAI-compatible server (--base-url,
--api-model; key from $OPENAI_API_KEY or --api-key-env): one token with its top 20
log-probabilities (chat completions, or completions with --raw), the same
aggregation, floor and verdicts. Where the server splits numbers into digit tokens,
up to 24 follow-up requests per row complete them (--followups off to skip; over
chat they need a server that continues a final assistant message: vLLM, SGLang,
llama.cpp's llama-server). Failed requests give verdict `error` and exit 1;
--resume FILE keeps finished rows and re-asks only the rest. See the README.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    Scenario,
    Response,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Scenario => "scenario",
            Stage::Response => "response",
        }
    }

    /// The field the stage's verdict goes in.
    pub fn field(self) -> &'static str {
        match self {
            Stage::Scenario => "scenario_vet",
            Stage::Response => "response_vet",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JudgeKind {
    Lm,
    Embed,
    Likelihood,
}

/// Score scenarios or responses 0-100 for a trait; verdicts and summaries
#[derive(Parser, Debug)]
#[command(name = "vet-score", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub model: ModelArgs,

    #[command(flatten)]
    pub api: ApiArgs,

    /// What is judged
    #[arg(long, value_enum)]
    pub stage: Stage,

    /// The trait's definition (trait-interp's definition.txt)
    #[arg(long, value_name = "FILE")]
    pub definition: PathBuf,

    /// The trait's name [default: the directory holding the definition]
    #[arg(long = "trait", value_name = "NAME")]
    pub trait_name: Option<String>,

    #[command(flatten)]
    pub scenarios: ScenarioArgs,

    /// Read trait-interp's responses files, DIR/pos.json and DIR/neg.json
    /// (or DIR/responses/…)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["files", "positive"])]
    pub responses: Option<PathBuf>,

    /// Which judge scores [default: likelihood; lm with --backend openai]
    #[arg(long, value_enum)]
    pub judge: Option<JudgeKind>,

    /// Likelihood judge: how contrasts become scores (see --help)
    #[arg(long, value_enum, default_value_t = Calibration::Run)]
    pub calibration: Calibration,

    /// Words of `response` the judge sees (0 = all)
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub words: usize,

    /// Response stage: judge the response without the scenario
    #[arg(long)]
    pub no_prefix: bool,

    /// Response stage: add a `coherence` verdict (empty text, loops, and the
    /// judge's coherence score; see --help)
    #[arg(long)]
    pub coherence: bool,

    /// --coherence: a response whose share of repeated word 3-grams is at
    /// least this loops
    #[arg(long, value_name = "SHARE", default_value_t = 0.3)]
    pub max_repeated: f64,

    /// --coherence: a response the coherence judge scores below this is
    /// incoherent (0: the score is recorded, not used)
    #[arg(long, value_name = "SCORE", default_value_t = 20.0)]
    pub min_coherence: f64,

    /// Positive rows pass at a score at least this
    #[arg(long, value_name = "SCORE", default_value_t = 60.0)]
    pub pos_threshold: f64,

    /// Negative rows pass at a score at most this
    #[arg(long, value_name = "SCORE", default_value_t = 40.0)]
    pub neg_threshold: f64,

    /// LM judge: least probability on the integers 0..100 for a score
    #[arg(long, value_name = "P", default_value_t = 0.25)]
    pub min_mass: f64,

    /// LM judge: prompt template file [default: pipelines/judge/<stage>.txt, built in]
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,

    /// LM judge: text that opens the judge's answer
    #[arg(long, value_name = "TEXT", default_value = "Score:")]
    pub answer_lead: String,

    /// Fail both rows of a pair when either fails
    #[arg(long)]
    pub paired: bool,

    /// Self-check: warn when the judge separates positives from negatives
    /// at an AUC below this (see --help)
    #[arg(long, value_name = "AUC", default_value_t = refinery_lm::DEFAULT_MIN_AUC)]
    pub min_auc: f64,

    /// openai: complete numbers split into digit tokens with follow-up
    /// requests (see --help)
    #[arg(long, value_enum, default_value_t = Followups::Auto, help_heading = "Backend options")]
    pub followups: Followups,

    /// openai: candidates asked for per token (servers that cap them, e.g.
    /// at 5, need less)
    #[arg(long, value_name = "N", default_value_t = refinery_api::judge::TOP_LOGPROBS as u16, value_parser = clap::value_parser!(u16).range(1..), help_heading = "Backend options")]
    pub top_logprobs: u16,

    /// openai: the judge's fixed sampling seed
    #[arg(long, default_value_t = 0, help_heading = "Backend options")]
    pub seed: u64,

    /// Write trait-interp's response_scores.json to FILE
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

/// A row read and checked, waiting for its score.
struct Pending {
    bytes: Vec<u8>,
    row: Row,
    prompt: String,
    response: Option<String>,
    scored: Scored,
    judgement: Option<Judgement>,
    /// `input_hash` (API judge only).
    hash: Option<String>,
    /// The `coherence` field (--coherence).
    coherence: Option<Value>,
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    if cli.coherence && cli.stage != Stage::Response {
        return Err(Error::usage(
            "--coherence judges responses: use it with --stage response",
        ));
    }
    if cli.neg_threshold > cli.pos_threshold {
        return Err(Error::usage(
            "--neg-threshold must not be above --pos-threshold",
        ));
    }
    cli.api.check_backend()?;
    let (definition, trait_name) =
        Definition::load_named(&cli.definition, cli.trait_name.as_deref(), tool)?;
    let thresholds = Thresholds {
        positive: cli.pos_threshold,
        negative: cli.neg_threshold,
    };
    let mut source = match &cli.responses {
        Some(dir) => ScenarioSource::Pairs(response_rows(dir, &trait_name)?.into_iter()),
        None => cli
            .scenarios
            .open(&cli.common, tool, |_| Ok(trait_name.clone()))?,
    };
    let progress = refinery_core::progress::Progress::new(cli.common.messages.quiet, None);
    let (mut judge, judge_name) = open_judge(&cli, &definition, &trait_name, tool)?;
    let settings = judges::settings(&cli, &judge);
    let key = cli.stage.field();
    let mut output = Output::open(cli.api.resume.as_deref(), |row| {
        !row[key]["score"].is_null() || !row[key]["mass"].is_null()
    })?;
    let mut rejects = cli.common.rejects()?;
    let mut tally = Tally::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut per_polarity = std::collections::HashMap::new();
    let mut scored_upto = 0;
    let batch_rows = judge.batch_rows(&cli);
    let mut score = |batch: &mut [Pending]| {
        score_and_record(
            &mut judge,
            batch,
            &cli,
            thresholds,
            &mut output,
            &judge_name,
        )
    };
    while let Some(line) = source.next_line()? {
        tally.read += 1;
        match check_row(&line.bytes, line.too_long, &cli, &mut per_polarity) {
            Ok(mut p) => {
                if let Some(settings) = &settings {
                    p.hash = Some(input_hash(settings, &line.bytes, 0));
                }
                pending.push(p)
            }
            Err(why) => rejects.reject(&line.location, &why, &line.bytes)?,
        }
        if pending.len() - scored_upto >= batch_rows {
            score(&mut pending[scored_upto..])?;
            scored_upto = pending.len();
            progress.update_now(tally.read, tally.read);
            progress.set_message(format!("{scored_upto} scored"));
        }
    }
    score(&mut pending[scored_upto..])?;
    progress.finish();
    if matches!(judge, AnyJudge::Likelihood(_)) && cli.calibration == Calibration::Run {
        calibrate_on_run(tool, &mut pending, thresholds);
    }
    if cli.coherence {
        add_coherence(&mut judge, &mut pending, &cli)?;
    }
    let mut scored: Vec<Scored> = pending.iter().map(|p| p.scored.clone()).collect();
    if cli.paired {
        apply_pairs(&mut scored);
    }
    for (p, s) in pending.iter().zip(&scored) {
        output.write(row_line(p, s, &judge_name, key), false)?;
        tally.written += 1;
    }
    if let AnyJudge::Api(j) = &judge {
        tool.note(&j.client.stats.summary());
    }
    if let Some(note) = output.finish()? {
        tool.note(&note);
    }
    let separation = Separation::of(
        scored
            .iter()
            .map(|s| (s.polarity == Polarity::Positive, s.score)),
    )
    .with_pairs(PairOrder::of(scored.iter().filter_map(|s| {
        Some((
            s.pair.as_deref()?,
            s.polarity == Polarity::Positive,
            s.score,
        ))
    })));
    if let Some(path) = &cli.summary {
        let mut summary = summary(&trait_name, &definition.text, thresholds, &scored);
        let mut check = separation.to_json(cli.min_auc);
        check["stage"] = cli.stage.name().into();
        check["judge"] = judge_name.as_str().into();
        summary["self_check"] = check;
        let text = String::from_utf8(python_json(&summary)).expect("escaped JSON is ASCII");
        write_file_atomically(path, &text)?;
    }
    report_rates(tool, &scored);
    separation.report(tool, &format!("{} stage", cli.stage.name()), cli.min_auc);
    tally.blank = source.blank_lines();
    cli.common.finish(tool, tally, rejects)?;
    let failed = pending
        .iter()
        .filter(|p| p.judgement.as_ref().is_some_and(request_failed))
        .count();
    if failed > 0 {
        return Err(Error::Check(format!(
            "{failed} rows got no score because their requests failed (verdict `error`); run again with --resume FILE to retry only those"
        )));
    }
    Ok(())
}

/// Checks a row has what the stage needs; the error is the reason it is rejected.
fn check_row(
    bytes: &[u8],
    too_long: Option<usize>,
    cli: &Cli,
    per_polarity: &mut std::collections::HashMap<(Polarity, u64), u64>,
) -> Result<Pending, String> {
    if let Some(len) = too_long {
        return Err(too_long_reason(len, cli.common.max_line_bytes));
    }
    let row = parse_row(bytes).map_err(|e| e.0)?;
    let polarity = Polarity::parse(row.get("polarity"))?;
    let text = |field: &str| match row.get(field) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(None),
        Some(other) => Err(format!(
            "`{field}` is {}, expected a string",
            refinery_core::record::type_name(other)
        )),
    };
    let prompt = text("prompt")?;
    let response = text("response")?;
    let needs_prompt = cli.stage == Stage::Scenario || !cli.no_prefix;
    if needs_prompt && prompt.is_none() {
        return Err("no `prompt` (the scenario text)".into());
    }
    if cli.stage == Stage::Response && response.is_none() {
        return Err("no `response`: the response stage judges it (run generate first)".into());
    }
    let rollout = match row.get("rollout") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .filter(|&r| r < 1 << 20)
            .ok_or("`rollout` must be a whole number (below 2^20)")?,
    };
    // Without a pair, a row's place among its polarity's rows of the same
    // rollout: the summary lays rollouts out one after another.
    let slot = per_polarity.entry((polarity, rollout)).or_insert(0);
    let idx = match row.get("pair").and_then(Value::as_u64) {
        Some(pair) => pair,
        None => *slot,
    };
    *slot += 1;
    let pair = row.get("pair").filter(|p| !p.is_null()).map(|p| {
        let t = row.get("trait").map(Value::to_string).unwrap_or_default();
        format!("{t}/{p}")
    });
    let prompt = prompt.unwrap_or_default();
    Ok(Pending {
        bytes: bytes.to_vec(),
        response: response.map(|r| first_words(&r, cli.words)),
        scored: Scored {
            idx,
            rollout,
            scenario: (cli.stage == Stage::Scenario).then(|| prompt.clone()),
            pair,
            polarity,
            score: None,
            verdict: Verdict::Error,
            failed_by_pair: false,
        },
        judgement: None,
        hash: None,
        coherence: None,
        prompt,
        row,
    })
}

/// The `coherence` field of every row: the exact signals, and the coherence
/// judge's score on the judge's model when it is a local causal LM.
fn add_coherence(judge: &mut AnyJudge, pending: &mut [Pending], cli: &Cli) -> Result<()> {
    let limits = coherence::Limits {
        max_repeated: cli.max_repeated,
        min_score: cli.min_coherence,
    };
    let mut lm = match judge {
        AnyJudge::Lm(j) => Some(&mut j.lm),
        AnyJudge::Likelihood(j) => Some(&mut j.lm),
        AnyJudge::Embed(_) | AnyJudge::Api(_) => None,
    };
    let coherence_judge = match lm.as_deref_mut() {
        Some(lm) => Some(coherence::CoherenceJudge::new(lm)?),
        None => None,
    };
    for p in pending.iter_mut() {
        let text = p
            .row
            .get("response")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let score = match (&coherence_judge, lm.as_deref_mut()) {
            (Some(c), Some(lm)) if !text.trim().is_empty() => {
                c.score(lm, &format!("{}{text}", p.prompt))?
            }
            _ => None,
        };
        let mut field = coherence::field(text, score, limits);
        if coherence_judge.is_some() && score.is_none() && !text.trim().is_empty() {
            field["note"] = "not judged: too long for the judge's context".into();
        }
        p.coherence = Some(field);
    }
    Ok(())
}

/// The likelihood judge's scores calibrated on the run's contrasts.
fn calibrate_on_run(tool: &Tool, pending: &mut [Pending], t: Thresholds) {
    let contrasts: Vec<f64> = pending
        .iter()
        .filter_map(|p| p.judgement.as_ref()?.contrast)
        .collect();
    let Some(c) = RunCalibration::of(&contrasts) else {
        tool.say("too few rows to calibrate on the run (4 with distinct scores needed): scores use --calibration fixed");
        return;
    };
    tool.note(&format!(
        "calibrated on this run: contrast {:.3} scores 50, {:.3} scores 80 (nats per token)",
        c.median,
        c.median + c.spread
    ));
    for p in pending.iter_mut() {
        let Some(j) = p.judgement.as_mut() else {
            continue;
        };
        if let Some(d) = j.contrast {
            j.score = Some(c.score(d));
            p.scored.score = j.score;
            p.scored.verdict = verdict(p.scored.polarity, j.score, t);
        }
    }
}

fn report_rates(tool: &Tool, scored: &[Scored]) {
    for polarity in [Polarity::Positive, Polarity::Negative] {
        let rows: Vec<&Scored> = scored.iter().filter(|s| s.polarity == polarity).collect();
        if rows.is_empty() {
            continue;
        }
        let passed = rows.iter().filter(|s| s.passed()).count();
        let errors = rows.iter().filter(|s| s.verdict == Verdict::Error).count();
        tool.note(&format!(
            "{}: {passed}/{} passed ({:.0}%), {errors} errors",
            polarity.as_str(),
            rows.len(),
            100.0 * passed as f64 / rows.len() as f64
        ));
    }
}
