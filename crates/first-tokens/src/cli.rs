//! The command line of `first-tokens`: its options and what they mean.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use refinery_core::CommonArgs;
use refinery_lm::{Calibration, ModelArgs};

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

refinery_core::impl_command!(Cli, common.messages.quiet, crate::run);
