//! `stats --merge`: one report from the JSON reports of shards, equal to the
//! report one `stats` over all their rows would write. Counts, histograms,
//! tags, archetypes, sources and splits add up; sums, means, standard
//! deviations and the `--compare` errors come from the exact sums every
//! report carries (`exact`), so they are the same bits as one pass; gates
//! are measured again from the state each report carries for them. Spearman
//! and the mirroring check need every pair and cannot be merged: the merged
//! report leaves them null and says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use refinery_core::config::{Baseline, Target};
use refinery_core::expr::Gate;
use refinery_core::{Error, Location, Result};
use serde_json::Value;

use crate::gates::{GateMeter, PairStats};
use crate::numeric::{Histogram, Moments, BINS};
use crate::report::{Comparison, SCHEMA};
use crate::summary::{AxisSummary, Counts, Summary};
use crate::view::AXES;

/// The figures that need every row and are left out of a merged report.
pub const NOT_MERGED: [&str; 3] = ["spearman", "equal_to_prediction", "equal_by_chance"];

/// One shard's report, read back.
pub struct Shard {
    pub path: PathBuf,
    pub thresholds: Baseline,
    pub targets: Vec<Target>,
    pub summary: Summary,
    pub by: Option<String>,
    pub groups: BTreeMap<String, Summary>,
    pub comparisons: Vec<Comparison>,
    pub gates: Vec<GateMeter>,
}

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::data(Location::in_file(path, 1), message)
}

/// Reads one report written by `stats --format json`.
pub fn read(path: &Path) -> Result<Shard> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        bad(
            path,
            format!("not a JSON report ({e}): give the output of `stats --format json`"),
        )
    })?;
    if doc["schema"] != SCHEMA {
        return Err(bad(
            path,
            format!("not a `{SCHEMA}` report: give the output of `stats --format json` (without --agreement)"),
        ));
    }
    let thresholds: Baseline = serde_json::from_value(doc["thresholds"].clone())
        .map_err(|e| bad(path, format!("bad `thresholds`: {e}")))?;
    let targets = targets_of(&doc).ok_or_else(|| bad(path, "bad `archetypes`"))?;
    let summary = summary_of(&doc).ok_or_else(|| {
        bad(
            path,
            "the report has no exact sums (`axes.*.exact`) or is malformed: write it again with this version's `stats --format json`",
        )
    })?;
    let mut groups = BTreeMap::new();
    for g in doc["groups"].as_array().into_iter().flatten() {
        let key = g["key"]
            .as_str()
            .ok_or_else(|| bad(path, "a group without a key"))?;
        let s = summary_of(g).ok_or_else(|| bad(path, format!("group `{key}` is malformed")))?;
        groups.insert(key.to_string(), s);
    }
    let mut comparisons = Vec::new();
    for c in doc["compare"].as_array().into_iter().flatten() {
        comparisons
            .push(comparison_of(c).ok_or_else(|| bad(path, "a `compare` entry is malformed"))?);
    }
    let mut gates = Vec::new();
    for g in doc["gates"].as_array().into_iter().flatten() {
        let source = g["gate"]
            .as_str()
            .ok_or_else(|| bad(path, "a gate without its text"))?;
        let gate = Gate::parse(source).map_err(|e| bad(path, format!("gate `{source}`: {e}")))?;
        let mut meter = GateMeter::from_state(gate, &g["state"])
            .ok_or_else(|| bad(path, format!("gate `{source}` has no state to merge")))?;
        meter.enforced = g["enforced"] != false;
        gates.push(meter);
    }
    Ok(Shard {
        path: path.to_path_buf(),
        thresholds,
        targets,
        summary,
        by: doc["by"].as_str().map(String::from),
        groups,
        comparisons,
        gates,
    })
}

/// The archetype targets a report was measured against, in its order.
fn targets_of(doc: &Value) -> Option<Vec<Target>> {
    let mut out = Vec::new();
    for row in doc["archetypes"]["rows"].as_array()? {
        if let Some(t) = row["target"].as_u64() {
            out.push(Target {
                name: row["name"].as_str()?.to_string(),
                target: t,
                axes: None,
            });
        }
    }
    Some(out)
}

fn counts_of(counts: &Value, missing: u64) -> Option<Counts> {
    let mut c = Counts {
        missing,
        ..Counts::default()
    };
    for (k, n) in counts.as_object()? {
        let n = n.as_u64()?;
        if n > 0 {
            c.values.insert(k.clone(), n);
        }
    }
    Some(c)
}

fn axis_of(v: &Value) -> Option<AxisSummary> {
    let count = v["count"].as_u64()?;
    let h = &v["histogram"];
    let mut histogram = Histogram::new(h["lo"].as_f64()?, h["hi"].as_f64()?);
    let bins = h["bins"].as_array()?;
    if bins.len() != BINS {
        return None;
    }
    for (slot, n) in histogram.bins.iter_mut().zip(bins) {
        *slot = n.as_u64()?;
    }
    histogram.below = h["below"].as_u64()?;
    histogram.above = h["above"].as_u64()?;
    Some(AxisSummary {
        moments: Moments::from_json(count, v["min"].as_f64(), v["max"].as_f64(), &v["exact"])?,
        histogram,
        missing: v["missing"].as_u64()?,
        non_numeric: v["non_numeric"].as_u64()?,
    })
}

/// A summary (the report's top level or a group) read back.
fn summary_of(v: &Value) -> Option<Summary> {
    let mut s = Summary::new();
    s.rows = v["rows"].as_u64()?;
    for (slot, axis) in s.axes.iter_mut().zip(AXES.iter()) {
        *slot = axis_of(&v["axes"][axis.name])?;
    }
    let b = &v["baseline"];
    s.baseline.distant_intimacy = b["distant_intimacy"].as_u64()?;
    s.baseline.positive_valence = b["positive_valence"].as_u64()?;
    s.baseline.negative_valence = b["negative_valence"].as_u64()?;
    s.baseline.high_intimacy = b["high_intimacy"].as_u64()?;
    s.baseline.high_tension = b["high_tension"].as_u64()?;
    s.tags = counts_of(&v["tags"]["counts"], 0)?;
    s.bad_tags = v["tags"]["rows_with_bad_tags"].as_u64()?;
    let mut archetypes = serde_json::Map::new();
    for row in v["archetypes"]["rows"].as_array()? {
        archetypes.insert(row["name"].as_str()?.to_string(), row["count"].clone());
    }
    s.archetypes = counts_of(
        &Value::Object(archetypes),
        v["archetypes"]["missing"].as_u64()?,
    )?;
    s.sources = counts_of(&v["sources"]["counts"], v["sources"]["missing"].as_u64()?)?;
    s.splits = counts_of(&v["splits"]["counts"], v["splits"]["missing"].as_u64()?)?;
    Some(s)
}

fn comparison_of(v: &Value) -> Option<Comparison> {
    let keyed = |list: &Value| -> Option<BTreeMap<String, PairStats>> {
        list.as_array()?
            .iter()
            .map(|p| Some((p["key"].as_str()?.to_string(), PairStats::from_json(p)?)))
            .collect()
    };
    Some(Comparison {
        prediction: v["prediction"].as_str()?.to_string(),
        label: v["label"].as_str()?.to_string(),
        overall: PairStats::from_json(v)?,
        by_archetype: keyed(&v["by_archetype"])?,
        by_split: keyed(&v["by_split"])?,
        by_rater: keyed(&v["by_rater"])?,
    })
}

/// The shards' reports merged into the first; an error names the first
/// report measured differently from the first one.
pub fn merge(mut shards: Vec<Shard>) -> Result<Shard> {
    let mut rest = shards.split_off(1);
    let mut all = shards.pop().expect("at least one report");
    for s in rest.drain(..) {
        let differs = |what: &str| {
            bad(
                &s.path,
                format!(
                    "measured with other {what} than {}: merge reports of one `stats` command run on each shard",
                    all.path.display()
                ),
            )
        };
        if s.thresholds != all.thresholds {
            return Err(differs("thresholds"));
        }
        if s.targets != all.targets {
            return Err(differs("archetype targets"));
        }
        if s.by != all.by {
            return Err(differs("--by"));
        }
        let pairs = |c: &[Comparison]| -> Vec<(String, String)> {
            c.iter()
                .map(|c| (c.prediction.clone(), c.label.clone()))
                .collect()
        };
        if pairs(&s.comparisons) != pairs(&all.comparisons) {
            return Err(differs("--compare"));
        }
        let gates = |g: &[GateMeter]| -> Vec<(String, bool)> {
            g.iter()
                .map(|g| (g.gate.source.clone(), g.enforced))
                .collect()
        };
        if gates(&s.gates) != gates(&all.gates) {
            return Err(differs("gates (--require, --measure)"));
        }
        all.summary.merge(&s.summary);
        for (k, g) in &s.groups {
            all.groups.entry(k.clone()).or_default().merge(g);
        }
        for (a, b) in all.comparisons.iter_mut().zip(&s.comparisons) {
            a.merge(b);
        }
        for (a, b) in all.gates.iter_mut().zip(&s.gates) {
            a.merge(b);
        }
    }
    Ok(all)
}
