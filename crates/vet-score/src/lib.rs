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

mod cli;
mod coherence;
mod judges;
mod rows;
mod verdict;

use refinery_api::{input_hash, Output};
use refinery_core::experiment::{python_json, response_rows};
use refinery_core::reader::too_long_reason;
use refinery_core::record::parse_row;
use refinery_core::trait_files::ScenarioSource;
use refinery_core::writer::write_file_atomically;
use refinery_core::{Error, Result, Row, Tally, Tool};
use refinery_lm::{
    first_words, Calibration, Definition, Judgement, PairOrder, RunCalibration, Separation,
};

use judges::{open_judge, AnyJudge};
use rows::{request_failed, row_line, score_and_record};
use serde_json::Value;

pub use cli::{Cli, JudgeKind, Stage};
pub use verdict::{apply_pairs, round2, summary, verdict, Polarity, Scored, Thresholds, Verdict};

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
