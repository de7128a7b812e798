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

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use refinery_core::config::{load_targets, Baseline};
use refinery_core::expr::{parse_path, Aggregate, Gate, Predicate};
use refinery_core::parallel::{default_workers, for_each_chunk};
use refinery_core::record::FieldSet;
use refinery_core::writer::JsonlWriter;
use refinery_core::{CommonArgs, Error, Result, Tally, Tool};

pub use gates::{spearman, GateResult, PairStats};
pub use numeric::{Histogram, Moments};
pub use report::SCHEMA;
pub use summary::Summary;
pub use view::AXES;

use gates::GateMeter;
use meters::{CompareSpec, Measure, Meters, RATER_FIELD};
use report::{Comparison, Report};
use view::{SPLIT_FIELD, SUMMARY_FIELDS};

const AFTER_HELP: &str = "\
Report: per axis (valence, intimacy, tension on [-1, 1]; confidence on [0, 1]) the count,
missing and non-numeric rows, mean, population std, min, max and a 10-bin histogram; the
baseline block (thresholds from pipelines/baseline.json, or --thresholds); the top
tags; rows per archetype against the targets in pipelines/archetypes.json (or --targets)
and how many more each needs; rows per source and per split when those fields exist.

Gates (--require, repeatable; exit 1 listing the gates that failed and their values):
  count() >= 8000                 count(archetype == \"hostile_intimacy\") >= 600
  share(intimacy <= -0.1) >= 0.05 mean(valence) <= 0.1     min(F) max(F) std(F) sum(F)
  mae(P, L) rmse(P, L) bias(P, L) spearman(P, L)   compared by < <= > >= == !=
Predicates (--where, and inside count/share): valence <= -0.2 and intimacy >= 0.3,
  tags has \"tension\", source == \"goemotions\", not exists(context), vet.score >= 60, ...

--compare PRED=LABEL measures a prediction against its label (MAE, RMSE, bias =
mean(PRED - LABEL), Spearman, and the share of labels equal to the prediction at
two decimals next to the share chance gives: a rater far above chance is copying
the predictions) overall, per archetype, per split and per rater (labelled_by); 'pred_*' means
pred_valence=valence, pred_intimacy=intimacy and pred_tension=tension. Rows missing
either field are counted as missing, never guessed.

--agreement reads the labelled rows of several raters instead (one file each, or mixed):
rows with the same --key (default id) are one candidate, --rater-field (default labelled_by)
names the rater. It reports per axis Krippendorff's alpha (interval) and the mean absolute
difference between two raters, alpha (nominal) for the archetype, the items and raters,
and per rater how often a label equals the prediction beside it (pred_valence, ...) to two
decimals against how often it would by chance (a rater far above chance is copying the
predictions). Gates: alpha(valence) >= 0.6, alpha(archetype) >= 0.5, ...

--merge FILE... reads the JSON reports of shards (`stats --format json` on each) and
prints the report of all their rows: the same figures to the last bit (means and
standard deviations come from the exact sums every report carries), except Spearman
and the equal-to-prediction shares, which need every pair and are left null. A shard
measures a gate with --measure GATE (reported, never failing); the merge enforces it
with --require and the same text.

--format json is the machine interface: schema \"refinery.stats/1\" (with --agreement,
\"refinery.agreement/1\"), documented in the README. The summary line counts rows summarised as written and --where misses as filtered.";

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

/// Summarise affect rows: axes, the baseline block, archetype gaps; gate them in CI
#[derive(Parser, Debug)]
#[command(name = "stats", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,

    /// A gate the data must pass, e.g. 'count() >= 8000' (repeatable)
    #[arg(long = "require", value_name = "GATE")]
    pub require: Vec<String>,

    /// A gate measured and reported but never failing the run (repeatable):
    /// for shard reports that `--merge` gates as a whole
    #[arg(long = "measure", value_name = "GATE")]
    pub measure: Vec<String>,

    /// Also draw the coverage map to FILE (SVG): valence × intimacy heat
    /// maps per tension band with the thresholds and archetype regions, and
    /// archetype counts against targets; one row of panels per --by group
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Merge the JSON reports FILE... of shards (`stats --format json`, one
    /// per shard) into the report of all their rows, gates included
    #[arg(long, conflicts_with_all = ["where_", "by", "compare", "thresholds", "targets", "measure", "agreement", "plot"])]
    pub merge: bool,

    /// Require every archetype in the targets file to reach SHARE of its
    /// target: 1 for the full goal, 0.05 for a sample (adds one gate each)
    #[arg(long, value_name = "SHARE")]
    pub require_targets: Option<f64>,

    /// Report only on rows matching PREDICATE
    #[arg(long = "where", value_name = "PREDICATE")]
    pub where_: Option<String>,

    /// Also report per value of FIELD (dotted paths allowed)
    #[arg(long, value_name = "FIELD")]
    pub by: Option<String>,

    /// Measure prediction PRED against label LABEL (repeatable), or 'PREFIX*'
    #[arg(long, value_name = "PRED=LABEL")]
    pub compare: Vec<String>,

    /// Baseline thresholds file [default: pipelines/baseline.json, built in]
    #[arg(long, value_name = "FILE")]
    pub thresholds: Option<PathBuf>,

    /// Archetype targets file [default: pipelines/archetypes.json, built in]
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// Measure agreement between raters on the same candidates instead
    /// (alpha per axis and archetype; gates: alpha(FIELD))
    #[arg(long, conflicts_with_all = ["compare", "by", "require_targets"])]
    pub agreement: bool,

    /// With --agreement: the field that identifies a candidate
    #[arg(
        long,
        value_name = "FIELD",
        default_value = "id",
        requires = "agreement"
    )]
    pub key: String,

    /// With --agreement: the field that names the rater
    #[arg(
        long,
        value_name = "FIELD",
        default_value = "labelled_by",
        requires = "agreement"
    )]
    pub rater_field: String,
}

/// One gate per archetype: its count must reach `share` of its target,
/// rounded up.
pub fn target_gates(targets: &[refinery_core::config::Target], share: f64) -> Vec<String> {
    targets
        .iter()
        .map(|t| {
            let need = (t.target as f64 * share).ceil() as u64;
            let name = serde_json::to_string(&t.name).expect("strings serialise");
            format!("count(archetype == {name}) >= {need}")
        })
        .collect()
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

fn parse_compare(spec: &str) -> Result<Vec<(String, String)>> {
    if let Some(prefix) = spec.strip_suffix('*') {
        if prefix.is_empty() || prefix.contains('=') {
            return Err(Error::flag(
                "--compare",
                format!("bad prefix form `{spec}`"),
            ));
        }
        return Ok(["valence", "intimacy", "tension"]
            .iter()
            .map(|axis| (format!("{prefix}{axis}"), axis.to_string()))
            .collect());
    }
    match spec.split_once('=') {
        Some((p, l)) if !p.trim().is_empty() && !l.trim().is_empty() => {
            Ok(vec![(p.trim().to_string(), l.trim().to_string())])
        }
        _ => Err(Error::flag(
            "--compare",
            format!("expected PRED=LABEL or PREFIX*, got `{spec}`"),
        )),
    }
}

fn compare_specs(cli: &Cli) -> Result<Vec<CompareSpec>> {
    let mut out = Vec::new();
    for spec in &cli.compare {
        for (p, l) in parse_compare(spec)? {
            out.push(CompareSpec {
                prediction: parse_path(&p).map_err(|e| Error::flag("--compare", e))?,
                label: parse_path(&l).map_err(|e| Error::flag("--compare", e))?,
                stats: Comparison {
                    prediction: p,
                    label: l,
                    overall: PairStats::default(),
                    by_archetype: BTreeMap::new(),
                    by_split: BTreeMap::new(),
                    by_rater: BTreeMap::new(),
                },
            });
        }
    }
    Ok(out)
}

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

/// `--require-targets SHARE`, checked.
fn target_share(cli: &Cli) -> Result<Option<f64>> {
    match cli.require_targets {
        Some(share) if !(share.is_finite() && share >= 0.0) => Err(Error::flag(
            "--require-targets",
            "SHARE must be a number >= 0",
        )),
        share => Ok(share),
    }
}

fn where_predicate(cli: &Cli) -> Result<Option<Predicate>> {
    match &cli.where_ {
        Some(src) => Ok(Some(
            Predicate::parse(src).map_err(|e| Error::flag("--where", e))?,
        )),
        None => Ok(None),
    }
}

fn parse_gates(texts: &[String]) -> Result<Vec<Gate>> {
    texts
        .iter()
        .map(|g| Gate::parse(g).map_err(|e| Error::flag("--require", e)))
        .collect()
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
