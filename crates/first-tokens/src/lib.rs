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

mod cli;
mod history;
mod report;
mod rewrite;
mod suggest;

use refinery_core::experiment::response_rows;
use refinery_core::progress::Progress;
use refinery_core::reader::too_long_reason;
use refinery_core::record::{parse_row, type_name, with_fields};
use refinery_core::trait_files::ScenarioSource;
use refinery_core::writer::{write_file_atomically, JsonlWriter};
use refinery_core::{Result, Row, Tally, Tool};
use refinery_lm::judge::RESPONSE_NO_PREFIX_TEMPLATE;
use refinery_lm::{
    Calibration, CausalLm, Definition, Item, JudgeQuestion, Judgement, LikelihoodJudge, LmJudge,
    PromptMode, RunCalibration, Separation,
};
use serde_json::{json, Value};

pub use cli::{Cli, JudgeKind};
pub use report::{markdown_report, review_line, Checked};

/// The judge of the delete test: the LM asked for a number, or the
/// likelihood judge.
enum Judge {
    Lm(Box<LmJudge>),
    Likelihood(Box<LikelihoodJudge>),
}

impl Judge {
    /// The judge and its model's name.
    fn open(
        cli: &Cli,
        definition: &Definition,
        trait_name: &str,
        tool: &Tool,
    ) -> Result<(Self, String)> {
        if cli.judge == JudgeKind::Likelihood {
            let (judge, model) = cli
                .model
                .likelihood_judge(tool, definition, &cli.definition)?;
            return Ok((Judge::Likelihood(Box::new(judge)), model));
        }
        let question = JudgeQuestion {
            template: JudgeQuestion::template(
                cli.template.as_deref(),
                RESPONSE_NO_PREFIX_TEMPLATE,
            )?,
            answer_lead: "Score:".into(),
            min_mass: cli.min_mass,
        };
        let (judge, model) = cli.model.lm_judge(tool, question, trait_name, definition)?;
        Ok((Judge::Lm(Box::new(judge)), model))
    }

    /// What rows record in `judge`: the kind and the model.
    fn name(&self, model: &str) -> String {
        match self {
            Judge::Lm(_) => format!("lm:{model}"),
            Judge::Likelihood(_) => format!("likelihood:{model}"),
        }
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
    let (mut judge, judge_model) = Judge::open(&cli, &definition, &trait_name, tool)?;
    let judge_name = judge.name(&judge_model);
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
