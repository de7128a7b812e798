//! The command line of `stats`: its options, and the checks that turn
//! option text into comparisons, predicates and gates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use refinery_core::expr::{parse_path, Gate, Predicate};
use refinery_core::{CommonArgs, Error, Result};

use crate::meters::CompareSpec;
use crate::report::Comparison;
use crate::PairStats;

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

refinery_core::impl_command!(Cli, common.messages.quiet, crate::run);

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

pub(crate) fn compare_specs(cli: &Cli) -> Result<Vec<CompareSpec>> {
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

/// `--require-targets SHARE`, checked.
pub(crate) fn target_share(cli: &Cli) -> Result<Option<f64>> {
    match cli.require_targets {
        Some(share) if !(share.is_finite() && share >= 0.0) => Err(Error::flag(
            "--require-targets",
            "SHARE must be a number >= 0",
        )),
        share => Ok(share),
    }
}

pub(crate) fn where_predicate(cli: &Cli) -> Result<Option<Predicate>> {
    match &cli.where_ {
        Some(src) => Ok(Some(
            Predicate::parse(src).map_err(|e| Error::flag("--where", e))?,
        )),
        None => Ok(None),
    }
}

pub(crate) fn parse_gates(texts: &[String]) -> Result<Vec<Gate>> {
    texts
        .iter()
        .map(|g| Gate::parse(g).map_err(|e| Error::flag("--require", e)))
        .collect()
}
