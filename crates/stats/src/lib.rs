//! `stats`: summarise affect rows (or any rows) and gate them in CI.
//!
//! ```text
//! stats [OPTIONS] [FILE...]
//! stats data.jsonl                                   # table on the terminal
//! stats --format markdown data.jsonl > report.md
//! stats --require 'count() >= 8000' --require 'share(intimacy <= -0.1) >= 0.05' data.jsonl
//! stats --where 'source == "goemotions"' --by archetype data.jsonl
//! stats --compare 'pred_*' --require 'mae(pred_valence, valence) <= 0.25' preds.jsonl
//! stats --agreement --require 'alpha(valence) >= 0.6' ana.jsonl ben.jsonl
//! stats --merge --require 'mean(valence) <= 0.1' shard1.json shard2.json
//! ```
//!
//! It streams: memory holds the counters, the tag and group tables, and
//! (only with `--compare` or a `spearman` gate) the compared pairs.

pub mod agreement;
mod cli;
mod exact;
mod gates;
mod merge;
mod meters;
mod numeric;
mod plot;
mod render;
mod report;
mod summary;
mod view;

use std::collections::HashMap;

use refinery_core::config::{load_targets, Baseline};
use refinery_core::expr::{parse_path, Aggregate, Gate};
use refinery_core::parallel::{default_workers, for_each_chunk};
use refinery_core::record::FieldSet;
use refinery_core::writer::JsonlWriter;
use refinery_core::{Error, Result, Tally, Tool};

pub use cli::{target_gates, Cli, Format};
pub use gates::{spearman, GateResult, PairStats};
pub use numeric::{Histogram, Moments};
pub use report::SCHEMA;
pub use summary::Summary;
pub use view::AXES;

use cli::{compare_specs, parse_gates, target_share, where_predicate};
use gates::GateMeter;
use meters::{Measure, Meters, RATER_FIELD};
use report::{Comparison, Report};
use view::{SPLIT_FIELD, SUMMARY_FIELDS};

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    if cli.agreement {
        return run_agreement(&cli, tool);
    }
    if cli.merge {
        return run_merge(&cli, tool);
    }
    let thresholds = Baseline::load(cli.thresholds.as_deref())?;
    let targets = load_targets(cli.targets.as_deref())?;
    let predicate = where_predicate(&cli)?;
    let mut gate_texts = cli.require.clone();
    if let Some(share) = target_share(&cli)? {
        gate_texts.extend(target_gates(&targets, share));
    }
    let enforced = gate_texts.len();
    gate_texts.extend(cli.measure.iter().cloned());
    let gates = parse_gates(&gate_texts)?;
    if let Some(g) = gates
        .iter()
        .find(|g| matches!(g.aggregate, Aggregate::Alpha(_)))
    {
        return Err(Error::flag(
            "--require",
            format!("`{g}` is measured between raters: add --agreement"),
        ));
    }
    let by = match &cli.by {
        Some(f) => Some(parse_path(f).map_err(|e| Error::flag("--by", e))?),
        None => None,
    };
    let compares = compare_specs(&cli)?;

    let mut fields = FieldSet::new();
    for f in SUMMARY_FIELDS.iter().chain([&SPLIT_FIELD, &RATER_FIELD]) {
        fields.insert(*f);
    }
    let named = predicate.iter().flat_map(|p| p.fields());
    let named = named.chain(gates.iter().flat_map(|g| g.fields()));
    let named = named.chain(by.iter().map(|b| b[0].clone()));
    let named = named.chain(
        compares
            .iter()
            .flat_map(|c| [c.prediction[0].clone(), c.label[0].clone()]),
    );
    for f in named {
        fields.insert(f);
    }

    let template = Meters {
        summary: Summary::new(),
        groups: HashMap::new(),
        by,
        gates: gates
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                let mut meter = GateMeter::new(g);
                meter.enforced = i < enforced;
                meter
            })
            .collect(),
        compares,
    };
    let measure = Measure {
        fast: !template.needs_rows(predicate.is_some()),
        template: &template,
        fields: &fields,
        predicate: predicate.as_ref(),
        thresholds: &thresholds,
        max_line_bytes: cli.common.max_line_bytes,
    };
    let (mut reader, progress) = cli.common.reader(tool)?;
    let mut rejects = cli.common.rejects()?;
    let mut tally = Tally::default();
    let mut meters = template.clone();
    let read = for_each_chunk(
        &mut reader,
        default_workers(),
        &progress,
        |c| measure.chunk(c),
        |part| {
            for bad in &part.bad {
                rejects.reject_bad(bad)?;
            }
            meters.merge(&part.meters);
            tally.read += part.tally.read;
            tally.written += part.tally.written;
            tally.filtered += part.tally.filtered;
            Ok(())
        },
    )?;
    progress.finish();
    tally.blank = read.blank_lines;

    let gate_results: Vec<GateResult> = meters.gates.iter().map(GateMeter::result).collect();
    let mut groups: Vec<(String, &Summary)> =
        meters.groups.iter().map(|(k, s)| (k.clone(), s)).collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let comparisons: Vec<Comparison> = meters.compares.into_iter().map(|c| c.stats).collect();
    let report = Report {
        summary: &meters.summary,
        thresholds: &thresholds,
        targets: &targets,
        groups: cli.by.as_deref().map(|by| (by, groups)),
        comparisons: &comparisons,
        gates: &gate_results,
    };
    write_report(
        cli.format,
        || report::to_json(&report),
        || report::sections(&report),
    )?;
    if let Some(path) = &cli.plot {
        let mut panels = vec![("all rows".to_string(), &meters.summary)];
        if let Some((by, groups)) = &report.groups {
            panels.extend(groups.iter().map(|(k, s)| (format!("{by} = {k}"), *s)));
        }
        let input = match cli.common.files.as_slice() {
            [] => "standard input".to_string(),
            files => files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let svg = plot::coverage_svg(&input, &panels, &thresholds, &targets)?;
        refinery_core::writer::write_file_atomically(path, &svg)?;
    }
    let gated = judge_gates(tool, &gate_results, "no rows with the field");
    cli.common.finish(tool, tally, rejects)?;
    gated
}

/// Prints a report on stdout in the chosen format.
fn write_report(
    format: Format,
    json: impl FnOnce() -> serde_json::Value,
    sections: impl FnOnce() -> Vec<render::Section>,
) -> Result<()> {
    let mut out = JsonlWriter::stdout();
    match format {
        Format::Json => out.write_value(&json())?,
        Format::Table => out.write_text(&render::as_text(&sections()))?,
        Format::Markdown => out.write_text(&render::as_markdown(&sections()))?,
    }
    out.flush()
}

/// Names every failed gate on stderr (even under --quiet) and fails the run
/// when any enforced one did; `no_value` says why a gate could have no value.
fn judge_gates(tool: &Tool, gates: &[GateResult], no_value: &str) -> Result<()> {
    for g in gates.iter().filter(|g| !g.passed && !g.enforced) {
        tool.note(&format!("measured gate not met: {}", g.gate));
    }
    let gates: Vec<&GateResult> = gates.iter().filter(|g| g.enforced).collect();
    let failed: Vec<&&GateResult> = gates.iter().filter(|g| !g.passed).collect();
    for g in &failed {
        // Every digit the comparison saw (shortest round-trip form): a
        // mean of 0.10000000000000005 fails `== 0.1`, and says why.
        let actual = g
            .actual
            .map_or(format!("no value ({no_value})"), |x| x.to_string());
        tool.say(&format!("gate failed: {} (actual {actual})", g.gate));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Check(format!(
            "{} of {} gates failed",
            failed.len(),
            gates.len()
        )))
    }
}

/// `--merge`: the shard reports named as FILE..., merged, printed and gated.
/// A `--require` gate must be one the shards measured (the same text);
/// `--require-targets` needs no shard to have measured it.
fn run_merge(cli: &Cli, tool: &mut Tool) -> Result<()> {
    if cli.common.files.is_empty() {
        return Err(Error::usage(
            "--merge: give the shard reports as FILE arguments (the output of `stats --format json` on each shard)",
        ));
    }
    let shards = cli
        .common
        .files
        .iter()
        .map(|p| merge::read(p))
        .collect::<Result<Vec<_>>>()?;
    let count = shards.len();
    let mut all = merge::merge(shards)?;
    for text in &cli.require {
        let wanted = Gate::parse(text).map_err(|e| Error::flag("--require", e))?;
        match all.gates.iter_mut().find(|g| g.gate.source.trim() == wanted.source.trim()) {
            Some(g) => g.enforced = true,
            None => {
                return Err(Error::flag(
                    "--require",
                    format!("the shard reports did not measure `{text}`: give it to each shard's stats with --measure (or --require)"),
                ))
            }
        }
    }
    if let Some(g) = all.gates.iter().find(|g| {
        g.enforced
            && matches!(
                g.gate.aggregate,
                Aggregate::Paired(refinery_core::expr::gate::PairedMetric::Spearman, ..)
            )
    }) {
        return Err(Error::flag(
            "--require",
            format!(
                "`{}`: Spearman's correlation needs every pair, which shard reports do not carry; gate it on the whole data",
                g.gate
            ),
        ));
    }
    let mut gate_results: Vec<GateResult> = all.gates.iter().map(GateMeter::result).collect();
    // Targets are archetype counts, which every report carries: no shard
    // needs to have measured them.
    if let Some(share) = target_share(cli)? {
        for (text, t) in target_gates(&all.targets, share)
            .into_iter()
            .zip(&all.targets)
        {
            let gate = Gate::parse(&text).map_err(|e| Error::flag("--require-targets", e))?;
            let actual = Some(all.summary.archetypes.get(&t.name) as f64);
            gate_results.push(GateResult {
                passed: gate.passes(actual),
                gate: text,
                actual,
                enforced: true,
                state: None,
            });
        }
    }
    let groups: Vec<(String, &Summary)> = all.groups.iter().map(|(k, s)| (k.clone(), s)).collect();
    let report = Report {
        summary: &all.summary,
        thresholds: &all.thresholds,
        targets: &all.targets,
        groups: all.by.as_deref().map(|by| (by, groups)),
        comparisons: &all.comparisons,
        gates: &gate_results,
    };
    write_report(
        cli.format,
        || {
            let mut doc = report::to_json(&report);
            doc["merged"] = serde_json::json!({"reports": count, "not_merged": merge::NOT_MERGED});
            doc
        },
        || report::sections(&report),
    )?;
    if !all.comparisons.is_empty() {
        tool.note("Spearman and the equal-to-prediction shares need every pair: a merged report leaves them out");
    }
    tool.note(&format!(
        "{count} reports merged: {} rows",
        all.summary.rows
    ));
    judge_gates(tool, &gate_results, "no rows with the field")
}

/// `--agreement`: reads every row (labelled data is small), pairs the raters'
/// rows per candidate, prints the report and judges the alpha gates.
fn run_agreement(cli: &Cli, tool: &mut Tool) -> Result<()> {
    let gates = parse_gates(&cli.require)?;
    let predicate = where_predicate(cli)?;
    let key = parse_path(&cli.key).map_err(|e| Error::flag("--key", e))?;
    let rater = parse_path(&cli.rater_field).map_err(|e| Error::flag("--rater-field", e))?;
    let (mut reader, progress) = cli.common.reader(tool)?;
    let mut rejects = cli.common.rejects()?;
    let mut tally = Tally::default();
    let mut ratings = agreement::Ratings::default();
    while let Some(line) = reader.next_line()? {
        tally.read += 1;
        let Some(row) = rejects.parse_or_reject(&line, cli.common.max_line_bytes)? else {
            continue;
        };
        if predicate.as_ref().is_some_and(|p| !p.matches(&row)) {
            tally.filtered += 1;
            continue;
        }
        match ratings.add(row, &key, &rater) {
            Ok(()) => tally.written += 1,
            Err(reason) => rejects.reject(&line.location, &reason, line.bytes)?,
        }
    }
    progress.finish();
    tally.blank = reader.blank_lines();
    let report = agreement::AgreementReport::measure(&ratings, &gates)?;
    if report.shared_items == 0 {
        tool.say(&format!(
            "no candidate was labelled by two raters or more ({} raters, {} candidates): nothing to \
             compare; give every rater's rows, with the same --key",
            report.raters.len(),
            report.items
        ));
    }
    write_report(cli.format, || report.to_json(), || report.sections())?;
    let gated = judge_gates(
        tool,
        &report.gates,
        "fewer than two raters on an item, or no variation",
    );
    cli.common.finish(tool, tally, rejects)?;
    gated
}
