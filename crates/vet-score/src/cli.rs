//! The command line of `vet-score`: its options and what they mean.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use refinery_api::{ApiArgs, Followups};
use refinery_core::trait_files::ScenarioArgs;
use refinery_core::CommonArgs;
use refinery_lm::{Calibration, ModelArgs};

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

refinery_core::impl_command!(Cli, common.messages.quiet, crate::run);
