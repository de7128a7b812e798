//! `first-tokens`: the First Token Test of the refinement loop, automated.
//!
//! ```text
//! first-tokens --definition definition.txt responses.jsonl > checked.jsonl
//! first-tokens --definition definition.txt --review --report report.md vetted.jsonl
//! ```
//!
//! Adds `first_tokens`: the completion's first k model tokens (ids, text and
//! each token's text), the judge's three scores of the delete test, the
//! `signal` the first tokens carry, and a verdict, `express` or `committed`.

mod history;
mod report;
mod rewrite;
mod suggest;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use refinery_core::experiment::response_rows;
use refinery_core::progress::Progress;
use refinery_core::reader::too_long_reason;
use refinery_core::record::{parse_row, type_name, with_fields};
use refinery_core::trait_files::ScenarioSource;
use refinery_core::writer::{write_file_atomically, JsonlWriter};
use refinery_core::{CommonArgs, Result, Row, Tally, Tool};
use refinery_lm::judge::RESPONSE_NO_PREFIX_TEMPLATE;
use refinery_lm::{
    Calibration, CausalLm, Definition, Item, JudgeQuestion, Judgement, LikelihoodJudge, LmJudge,
    ModelArgs, PromptMode, RunCalibration, Separation,
};
use serde_json::{json, Value};

pub use report::{markdown_report, review_line, Checked};

const AFTER_HELP: &str = "\
Rows need `prompt`, `response` and `polarity`. The completion's tokens are
`response_token_ids` (from generate) when the row's `model` is the judge's model,
else `response` tokenised by the judge's model (a judge with another tokenizer
cannot read the generator's ids).
The first --tokens model tokens are split off, and the judge scores three texts
0..100 for the trait: the prompt alone (prefix_score), the prompt followed by the
first tokens (with_first_score), and the prompt followed by the completion without
its first tokens (without_first_score: the delete test).

--judge likelihood (default; see vet-score --help): how much more likely the model
finds the definition's HIGH phrases than its LOW ones as a summing-up of the text,
on a 0..100 scale calibrated on the run's texts (--calibration run: the median 50,
the quartiles 20 and 80) or against no text (--calibration fixed). --judge lm: the
LM asked for a number (the same prompt as `vet-score --stage response --no-prefix`,
pipelines/judge/response_no_prefix.txt; --template, --min-mass). Rows are written
once every row is tested.

Self-check: the judge's with_first_score of positive rows against negative rows
(AUC, mean gap) says whether it can tell the trait's two sides apart on this data;
below --min-auc (0.75) the run warns that its verdicts are not evidence. The report
opens with this check for every stage the rows went through.

signal = d * (with_first_score - prefix_score) / 100, with d = +1 for positive rows
and -1 for negative ones: how far the first tokens alone move the judge toward the
row's side. Verdict `express` when signal >= --threshold (default 0.10): the trait
direction is carried by the first tokens, as the seed wants (the scenario stops
before the behaviour). Otherwise `committed`: the prompt had already fixed the
direction (it ends mid-behaviour) or the first tokens carry nothing; positives with
this verdict are listed as scenarios to rewrite. A null score gives `error`.

--review prints one line per row on stderr: index, polarity, verdict, signal, the
prompt's last words | the first tokens. --report FILE writes a Markdown report of
every pair with its vetting scores (if the rows carry them) and first tokens.

--history FILE appends a row per run to the loop's history (round, rows, passes per
stage, first-token passes, pairs that passed everything, the judge and each stage's
self-check AUC); the report opens with every round as a table.

--suggest FILE writes one fix suggestion a pair whose positive failed (JSON Lines:
pair, polarity, kind, before, after, accept, and the checks' figures). A positive
whose scenario passed vetting and response did not gets `kind: ignored_lock_in` (below);
any other `committed` positive gets `kind: cut`: the prompt cut 1-4 words earlier at a word boundary,
completed by --generator and put through the same test; the cut with the most
first-token signal whose prompt alone still scores >= --pos-threshold, if it beats
the prompt as it is; `accept` when it reaches `express`. An ignored lock-in is
flagged with the response's first tokens; with --rewrites N the judges' model also writes N rewrites (the first
greedy, the others sampled on fixed streams), each continued by --generator for 50
tokens: the suggestion is the one whose prompt+response scores highest with its
prompt alone >= --pos-threshold, if it beats the response as it is; `accept` when its
first tokens `express` and prompt+response scores >= --pos-threshold. Nothing is
edited: apply-suggestions writes the accepted ones into the scenario files.

--responses DIR reads trait-interp's pos.json and neg.json (entry i of each is
pair i) instead of JSON Lines: the First Token Test on generations made elsewhere.";

/// Automate the First Token Test with the judge's delete test
#[derive(Parser, Debug)]
#[command(name = "first-tokens", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub model: ModelArgs,

    /// The trait's definition (trait-interp's definition.txt)
    #[arg(long, value_name = "FILE")]
    pub definition: PathBuf,

    /// The trait's name [default: the directory holding the definition]
    #[arg(long = "trait", value_name = "NAME")]
    pub trait_name: Option<String>,

    /// Model tokens that count as the first tokens
    #[arg(short = 'k', long = "tokens", value_name = "K", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub tokens: u16,

    /// Which judge scores the three texts
    #[arg(long, value_enum, default_value_t = JudgeKind::Likelihood)]
    pub judge: JudgeKind,

    /// Self-check: warn when the judge separates positives from negatives
    /// at an AUC below this
    #[arg(long, value_name = "AUC", default_value_t = refinery_lm::DEFAULT_MIN_AUC)]
    pub min_auc: f64,

    /// Likelihood judge: scores calibrated on this run (median 50,
    /// quartiles 20/80) or against no text (see vet-score --help)
    #[arg(long, value_enum, default_value_t = Calibration::Run)]
    pub calibration: Calibration,

    /// Least signal for `express`
    #[arg(long, value_name = "SIGNAL", default_value_t = 0.10)]
    pub threshold: f64,

    /// Least probability on the integers 0..100 for a judge score
    #[arg(long, value_name = "P", default_value_t = 0.25)]
    pub min_mass: f64,

    /// Judge prompt template [default: pipelines/judge/response_no_prefix.txt, built in]
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,

    /// Read trait-interp's responses files, DIR/pos.json and DIR/neg.json
    /// (or DIR/responses/…), instead of JSON Lines
    #[arg(long, value_name = "DIR", conflicts_with = "files")]
    pub responses: Option<PathBuf>,

    /// Print the review listing on stderr
    #[arg(long)]
    pub review: bool,

    /// Write a Markdown report of every pair to FILE
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Write checked fix suggestions for the positives that failed to FILE
    /// (JSON Lines; see --help) and list them in the report
    #[arg(long, value_name = "FILE")]
    pub suggest: Option<PathBuf>,

    /// --suggest: the model under study, which completes the cut prompts
    /// [default: SmolLM2-135M-Instruct, as generate]
    #[arg(long, value_name = "DIR")]
    pub generator: Option<PathBuf>,

    /// --suggest: give the generator the chat template instead of the raw
    /// text (as the responses were generated)
    #[arg(long)]
    pub generator_chat: bool,

    /// --suggest: a cut still reads as a positive scenario when the judge
    /// scores its prompt alone at least this
    #[arg(long, value_name = "SCORE", default_value_t = 60.0)]
    pub pos_threshold: f64,

    /// --suggest: for a positive whose scenario passed vetting and response
    /// did not, ask the judges' model for N rewrites and suggest the best
    /// one that passes the same checks (0: flag it only)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rewrites: usize,

    /// Append this round's counts to the loop's history FILE (JSON Lines);
    /// the report shows every round
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JudgeKind {
    Lm,
    Likelihood,
}

/// The judge of the delete test: the LM asked for a number, or the
/// likelihood judge.
enum Judge {
    Lm(Box<LmJudge>),
    Likelihood(Box<LikelihoodJudge>),
}

impl Judge {
    /// The judge and the name rows record in `judge`.
    fn open(
        cli: &Cli,
        definition: &Definition,
        trait_name: &str,
        tool: &Tool,
    ) -> Result<(Self, String)> {
        if cli.judge == JudgeKind::Likelihood {
            let (judge, name) = cli
                .model
                .likelihood_judge(tool, definition, &cli.definition)?;
            return Ok((Judge::Likelihood(Box::new(judge)), name));
        }
        let question = JudgeQuestion {
            template: JudgeQuestion::template(
                cli.template.as_deref(),
                RESPONSE_NO_PREFIX_TEMPLATE,
            )?,
            answer_lead: "Score:".into(),
            min_mass: cli.min_mass,
        };
        let (judge, name) = cli.model.lm_judge(tool, question, trait_name, definition)?;
        Ok((Judge::Lm(Box::new(judge)), name))
    }

    fn lm(&self) -> &CausalLm {
        match self {
            Judge::Lm(j) => &j.lm,
            Judge::Likelihood(j) => &j.lm,
        }
    }

    fn lm_mut(&mut self) -> &mut CausalLm {
        match self {
            Judge::Lm(j) => &mut j.lm,
            Judge::Likelihood(j) => &mut j.lm,
        }
    }

    fn score(&mut self, text: &str) -> Result<Judgement> {
        match self {
            Judge::Lm(j) => j.judge(&Item {
                prompt: "",
                response: Some(text),
            }),
            Judge::Likelihood(j) => j.judge(text),
        }
    }
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let (definition, trait_name) =
        Definition::load_named(&cli.definition, cli.trait_name.as_deref(), tool)?;
    let (mut reader, progress) = match &cli.responses {
        Some(dir) => (
            ScenarioSource::Pairs(response_rows(dir, &trait_name)?.into_iter()),
            Progress::new(cli.common.messages.quiet, None),
        ),
        None => {
            let (reader, progress) = cli.common.reader(tool)?;
            (ScenarioSource::Jsonl(reader), progress)
        }
    };
    let (mut judge, judge_name) = Judge::open(&cli, &definition, &trait_name, tool)?;
    // The model after the judge's kind ("lm:MODEL"), to know rows it generated.
    let judge_model = judge_name
        .split_once(':')
        .map_or("", |(_, m)| m)
        .to_string();
    let mut rejects = cli.common.rejects()?;
    let mut out = JsonlWriter::stdout();
    let mut tally = Tally::default();
    let mut checked: Vec<Checked> = Vec::new();
    // Rows are written when all are tested: a run-calibrated judge needs them all.
    let mut tests: Vec<(Vec<u8>, Row, TokenTest)> = Vec::new();
    while let Some(line) = reader.next_line()? {
        tally.read += 1;
        let row = match check_row(&line.bytes, line.too_long, &cli) {
            Ok(row) => row,
            Err(why) => {
                rejects.reject(&line.location, &why, &line.bytes)?;
                continue;
            }
        };
        let result = test_row(&mut judge, &judge_model, &row, &cli)?;
        tests.push((line.bytes, row, result));
        progress.update_now(tally.read, reader.bytes_read());
    }
    progress.finish();
    let likelihood = matches!(judge, Judge::Likelihood(_));
    let calibration = if likelihood && cli.calibration == Calibration::Run && !tests.is_empty() {
        calibrate_on_run(tool, &mut tests, cli.threshold)
    } else {
        None
    };
    for (bytes, row, result) in tests {
        let field = result.to_json(&judge_name, cli.tokens);
        out.write_raw_line(&with_fields(&bytes, &row, &[("first_tokens", field)]))?;
        tally.written += 1;
        checked.push(Checked::new(&row, result, checked.len()));
    }
    out.flush()?;
    if cli.review {
        for c in &checked {
            tool.say(&review_line(c));
        }
    }
    summarise(tool, &checked);
    let separation = Separation::of(
        checked
            .iter()
            .map(|c| (c.polarity == "positive", c.test.with_first_score)),
    );
    separation.report(tool, "first tokens", cli.min_auc);
    let suggestions = match &cli.suggest {
        Some(path) => {
            let mut generator = suggest::Generator {
                lm: refinery_lm::CausalLm::load(
                    cli.generator.as_deref(),
                    &refinery_lm::LoadOptions {
                        threads: cli.model.threads,
                    },
                )?,
                mode: if cli.generator_chat {
                    PromptMode::Chat
                } else {
                    PromptMode::Raw
                },
                tokens: cli.tokens as usize,
            };
            let mut scorer = suggest::Scorer {
                judge: &mut judge,
                calibration: calibration.as_ref(),
            };
            let rewriter = (cli.rewrites > 0)
                .then(|| rewrite::Rewriter::new(cli.rewrites, &trait_name, &definition.text));
            let rows = suggest::suggest(
                &checked,
                &mut scorer,
                &mut generator,
                rewriter.as_ref(),
                cli.threshold,
                cli.pos_threshold,
            )?;
            let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
            write_file_atomically(path, &text)?;
            let accepted = |kind: &str| {
                rows.iter()
                    .filter(|r| r["kind"] == kind && r["accept"] == true)
                    .count()
            };
            let (cuts, rewrites) = (accepted("cut"), accepted("ignored_lock_in"));
            tool.note(&format!(
                "suggestions: {} for the pairs whose positive failed, {cuts} checked cuts that now pass the first-token test, {rewrites} checked rewrites that pass it and response vetting ({})",
                rows.len(),
                path.display()
            ));
            Some(rows)
        }
        None => None,
    };
    // The round is recorded once the report is written, so a failed run
    // adds none.
    let (rounds, round_line) = match &cli.history {
        Some(path) => {
            let row = history::round_row(&trait_name, &judge_name, &checked);
            let (rounds, line) = history::with_round(path, row)?;
            (rounds, Some((path, line)))
        }
        None => (Vec::new(), None),
    };
    if let Some(path) = &cli.report {
        let md = markdown_report(
            &trait_name,
            &judge_name,
            &checked,
            cli.threshold,
            cli.min_auc,
            &rounds,
            suggestions.as_deref(),
        );
        write_file_atomically(path, &md)?;
    }
    if let Some((path, line)) = round_line {
        history::append(path, &line)?;
    }
    tally.blank = reader.blank_lines();
    cli.common.finish(tool, tally, rejects)
}

fn check_row(bytes: &[u8], too_long: Option<usize>, cli: &Cli) -> Result<Row, String> {
    if let Some(len) = too_long {
        return Err(too_long_reason(len, cli.common.max_line_bytes));
    }
    let row = parse_row(bytes).map_err(|e| e.0)?;
    for field in ["prompt", "response"] {
        match row.get(field) {
            Some(Value::String(_)) => {}
            Some(other) => {
                return Err(format!(
                    "`{field}` is {}, expected a string",
                    type_name(other)
                ))
            }
            None => {
                return Err(format!(
                    "no `{field}` (first-tokens reads generate's output)"
                ))
            }
        }
    }
    match row.get("polarity").and_then(Value::as_str) {
        Some("positive" | "negative") => Ok(row),
        _ => Err("`polarity` must be \"positive\" or \"negative\"".into()),
    }
}

/// The delete test on one row.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenTest {
    pub ids: Vec<u32>,
    pub text: String,
    pub pieces: Vec<String>,
    pub prefix_score: Option<f64>,
    pub with_first_score: Option<f64>,
    pub without_first_score: Option<f64>,
    pub signal: Option<f64>,
    pub verdict: &'static str,
    /// Likelihood judge: the contrasts behind the three scores (prefix,
    /// with first tokens, without them), for calibrating on the run.
    pub contrasts: [Option<f64>; 3],
}

impl TokenTest {
    /// signal and verdict from the scores (see --help).
    fn decide(&mut self, negative: bool, threshold: f64) {
        let direction = if negative { -1.0 } else { 1.0 };
        self.signal = match (self.prefix_score, self.with_first_score) {
            (Some(a), Some(b)) => Some(direction * (b - a) / 100.0),
            _ => None,
        };
        self.verdict = match self.signal {
            None => "error",
            Some(s) if s >= threshold => "express",
            Some(_) => "committed",
        };
    }

    fn to_json(&self, judge: &str, k: u16) -> Value {
        let r = |x: Option<f64>| x.map(|v| (v * 100.0).round() / 100.0);
        json!({
            "k": k,
            "ids": self.ids,
            "text": self.text,
            "tokens": self.pieces,
            "prefix_score": r(self.prefix_score),
            "with_first_score": r(self.with_first_score),
            "without_first_score": r(self.without_first_score),
            "signal": self.signal.map(|s| (s * 1000.0).round() / 1000.0),
            "verdict": self.verdict,
            "judge": judge,
        })
    }
}

/// The completion's tokens: generate's `response_token_ids` when the row
/// was generated by the judge's own model (ids of another tokenizer would
/// decode to nonsense), else `response` tokenised by the judge's model.
fn completion_ids(lm: &CausalLm, judge_model: &str, row: &Row) -> Result<Vec<u32>> {
    let same_model = row.get("model").and_then(Value::as_str) == Some(judge_model);
    if let (true, Some(Value::Array(ids))) = (same_model, row.get("response_token_ids")) {
        let parsed: Option<Vec<u32>> = ids
            .iter()
            .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
            .collect();
        if let Some(ids) = parsed {
            return Ok(ids);
        }
    }
    Ok(lm.tokenize(row["response"].as_str().unwrap_or_default())?)
}

fn test_row(judge: &mut Judge, judge_model: &str, row: &Row, cli: &Cli) -> Result<TokenTest> {
    let prompt = row["prompt"].as_str().unwrap_or_default();
    let lm = judge.lm();
    let ids = completion_ids(lm, judge_model, row)?;
    let k = (cli.tokens as usize).min(ids.len());
    let first = lm.decode(&ids[..k])?;
    let rest = lm.decode(&ids[k..])?;
    let pieces = ids[..k]
        .iter()
        .map(|&id| lm.decode(&[id]))
        .collect::<refinery_lm::Result<Vec<_>>>()?;
    let alone = judge.score(prompt)?;
    let with_first = judge.score(&format!("{prompt}{first}"))?;
    let without_first = judge.score(&format!("{prompt}{rest}"))?;
    let mut test = TokenTest {
        ids: ids[..k].to_vec(),
        text: first,
        pieces,
        prefix_score: alone.score,
        with_first_score: with_first.score,
        without_first_score: without_first.score,
        signal: None,
        verdict: "error",
        contrasts: [alone.contrast, with_first.contrast, without_first.contrast],
    };
    test.decide(row["polarity"] == "negative", cli.threshold);
    Ok(test)
}

/// The likelihood judge's scores calibrated on every contrast of the run
/// (the three texts of every row together), as vet-score does.
/// Returns the calibration, for scoring the suggestions' texts alike.
fn calibrate_on_run(
    tool: &Tool,
    tests: &mut [(Vec<u8>, Row, TokenTest)],
    threshold: f64,
) -> Option<RunCalibration> {
    let all: Vec<f64> = tests
        .iter()
        .flat_map(|(_, _, t)| t.contrasts.iter().flatten().copied())
        .collect();
    let Some(c) = RunCalibration::of(&all) else {
        tool.say("too few rows to calibrate on the run: scores use --calibration fixed");
        return None;
    };
    for (_, row, t) in tests.iter_mut() {
        let [a, b, w] = t.contrasts.map(|d| d.map(|d| c.score(d)));
        (t.prefix_score, t.with_first_score, t.without_first_score) = (a, b, w);
        t.decide(row["polarity"] == "negative", threshold);
    }
    Some(c)
}

fn summarise(tool: &Tool, checked: &[Checked]) {
    let positives: Vec<&Checked> = checked
        .iter()
        .filter(|c| c.polarity == "positive")
        .collect();
    let express = positives
        .iter()
        .filter(|c| c.test.verdict == "express")
        .count();
    let rewrite: Vec<String> = positives
        .iter()
        .filter(|c| c.test.verdict != "express")
        .map(|c| c.label())
        .collect();
    tool.note(&format!(
        "positives: {express}/{} carry the trait in their first tokens (express)",
        positives.len()
    ));
    if !rewrite.is_empty() {
        tool.note(&format!(
            "rewrite (positives that did not pass): {}",
            rewrite.join(", ")
        ));
    }
}
