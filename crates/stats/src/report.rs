//! The report: a stable JSON document (the machine interface, schema
//! `refinery.stats/1`) and the same content as a terminal table or Markdown.

use refinery_core::config::{Baseline, Target};
use serde_json::{json, Map, Value};

use crate::gates::{GateResult, PairStats};
use crate::numeric::BINS;
use crate::render::{bar, fixed, signed, Section};
use crate::summary::{Counts, Summary};
use crate::view::AXES;
use refinery_core::expr::gate::PairedMetric;

pub const SCHEMA: &str = "refinery.stats/1";

/// A `--compare PRED=LABEL` pair measured overall, per archetype and per split.
#[derive(Clone)]
pub struct Comparison {
    pub prediction: String,
    pub label: String,
    pub overall: PairStats,
    pub by_archetype: std::collections::BTreeMap<String, PairStats>,
    pub by_split: std::collections::BTreeMap<String, PairStats>,
    /// per rater (`labelled_by`), where rows name one
    pub by_rater: std::collections::BTreeMap<String, PairStats>,
}

impl Comparison {
    pub fn merge(&mut self, other: &Comparison) {
        self.overall.merge(&other.overall);
        for (mine, theirs) in [
            (&mut self.by_archetype, &other.by_archetype),
            (&mut self.by_split, &other.by_split),
            (&mut self.by_rater, &other.by_rater),
        ] {
            for (k, p) in theirs {
                mine.entry(k.clone()).or_default().merge(p);
            }
        }
    }
}

/// Everything that goes into a report.
pub struct Report<'a> {
    pub summary: &'a Summary,
    pub thresholds: &'a Baseline,
    pub targets: &'a [Target],
    pub groups: Option<(&'a str, Vec<(String, &'a Summary)>)>,
    pub comparisons: &'a [Comparison],
    pub gates: &'a [GateResult],
}

fn num(x: Option<f64>) -> Value {
    x.map_or(Value::Null, Value::from)
}

fn counts_json(c: &Counts) -> Value {
    let mut values = Map::new();
    for (k, n) in c.sorted() {
        values.insert(k.to_string(), n.into());
    }
    json!({"counts": values, "missing": c.missing})
}

/// `(name, count, target, needed)` per archetype: the targets' order first,
/// then archetypes without a target by name, then rows without one.
fn archetype_rows(s: &Summary, targets: &[Target]) -> Vec<(String, u64, Option<u64>)> {
    let mut rows: Vec<_> = targets
        .iter()
        .map(|t| (t.name.clone(), s.archetypes.get(&t.name), Some(t.target)))
        .collect();
    for (name, n) in s.archetypes.sorted() {
        if !targets.iter().any(|t| t.name == name) {
            rows.push((name.to_string(), n, None));
        }
    }
    rows
}

pub fn summary_json(s: &Summary, thresholds: &Baseline, targets: &[Target]) -> Value {
    let mut axes = Map::new();
    for (axis, a) in AXES.iter().zip(&s.axes) {
        axes.insert(
            axis.name.to_string(),
            json!({
                "count": a.moments.count,
                "missing": a.missing,
                "non_numeric": a.non_numeric,
                "mean": num(a.moments.mean()),
                "std": num(a.moments.std()),
                "min": num(a.moments.min()),
                "max": num(a.moments.max()),
                "exact": a.moments.exact_json(),
                "histogram": {
                    "lo": axis.lo, "hi": axis.hi, "bins": a.histogram.bins.to_vec(),
                    "below": a.histogram.below, "above": a.histogram.above,
                },
            }),
        );
    }
    let top: Vec<Value> = s
        .tags
        .ranked()
        .into_iter()
        .take(thresholds.top_tags)
        .map(|(t, n)| json!({"tag": t, "count": n}))
        .collect();
    let b = &s.baseline;
    let archetypes: Vec<Value> = archetype_rows(s, targets)
        .into_iter()
        .map(|(name, count, target)| {
            json!({"name": name, "count": count, "target": target,
                   "needed": target.map(|t| t.saturating_sub(count))})
        })
        .collect();
    json!({
        "rows": s.rows,
        "axes": axes,
        "baseline": {
            "samples": s.rows,
            "mean_valence": num(s.axes[0].moments.mean()),
            "mean_intimacy": num(s.axes[1].moments.mean()),
            "mean_tension": num(s.axes[2].moments.mean()),
            "distant_intimacy": b.distant_intimacy,
            "positive_valence": b.positive_valence,
            "negative_valence": b.negative_valence,
            "high_intimacy": b.high_intimacy,
            "high_tension": b.high_tension,
            "top_tags": top,
        },
        "tags": {"distinct": s.tags.values.len(), "rows_with_bad_tags": s.bad_tags,
                 "counts": counts_json(&s.tags)["counts"]},
        "archetypes": {"rows": archetypes, "missing": s.archetypes.missing},
        "sources": counts_json(&s.sources),
        "splits": counts_json(&s.splits),
    })
}

fn pair_json(p: &PairStats) -> Value {
    let equal = p.equal_to_prediction();
    json!({
        "pairs": p.pairs, "missing": p.missing,
        "mae": num(p.metric(PairedMetric::Mae)),
        "rmse": num(p.metric(PairedMetric::Rmse)),
        "bias": num(p.metric(PairedMetric::Bias)),
        "spearman": num(p.metric(PairedMetric::Spearman)),
        "equal_to_prediction": num(equal.map(|e| e.0)),
        "equal_by_chance": num(equal.map(|e| e.1)),
        "exact": p.exact_json(),
    })
}

pub fn to_json(r: &Report) -> Value {
    let mut doc = Map::new();
    doc.insert("schema".into(), SCHEMA.into());
    doc.insert(
        "thresholds".into(),
        serde_json::to_value(r.thresholds).expect("plain data"),
    );
    if let Value::Object(m) = summary_json(r.summary, r.thresholds, r.targets) {
        doc.extend(m);
    }
    if let Some((by, groups)) = &r.groups {
        let groups: Vec<Value> = groups
            .iter()
            .map(|(key, s)| {
                let mut g = Map::new();
                g.insert("key".into(), key.clone().into());
                if let Value::Object(m) = summary_json(s, r.thresholds, r.targets) {
                    g.extend(m);
                }
                Value::Object(g)
            })
            .collect();
        doc.insert("by".into(), (*by).into());
        doc.insert("groups".into(), groups.into());
    }
    if !r.comparisons.is_empty() {
        let cmp: Vec<Value> = r
            .comparisons
            .iter()
            .map(|c| {
                let by = |m: &std::collections::BTreeMap<String, PairStats>| {
                    m.iter()
                        .map(|(k, p)| {
                            let mut v = pair_json(p);
                            v["key"] = k.clone().into();
                            v
                        })
                        .collect::<Vec<_>>()
                };
                let mut v = pair_json(&c.overall);
                v["prediction"] = c.prediction.clone().into();
                v["label"] = c.label.clone().into();
                v["by_archetype"] = by(&c.by_archetype).into();
                v["by_split"] = by(&c.by_split).into();
                v["by_rater"] = by(&c.by_rater).into();
                v
            })
            .collect();
        doc.insert("compare".into(), cmp.into());
    }
    if !r.gates.is_empty() {
        doc.insert("gates".into(), gates_json(r.gates));
    }
    Value::Object(doc)
}

/// The sections for one summary; `prefix` names the group, if any.
fn summary_sections(s: &Summary, t: &Baseline, targets: &[Target], prefix: &str) -> Vec<Section> {
    let mut out = Vec::new();
    let mut axes = Section::new(
        format!("{prefix}axes ({} rows)", s.rows),
        &[
            "axis",
            "count",
            "missing",
            "non-numeric",
            "mean",
            "std",
            "min",
            "max",
        ],
        &[false, true, true, true, true, true, true, true],
    );
    for (axis, a) in AXES.iter().zip(&s.axes) {
        let m = &a.moments;
        axes.row(vec![
            axis.name.into(),
            m.count.to_string(),
            a.missing.to_string(),
            a.non_numeric.to_string(),
            signed(m.mean()),
            fixed(m.std()),
            signed(m.min()),
            signed(m.max()),
        ]);
    }
    out.push(axes);

    let b = &s.baseline;
    let mut base = Section::new(
        format!("{prefix}baseline"),
        &["measure", "value"],
        &[false, true],
    );
    let rows = [
        ("samples".to_string(), s.rows.to_string()),
        ("mean valence".into(), signed(s.axes[0].moments.mean())),
        ("mean intimacy".into(), signed(s.axes[1].moments.mean())),
        ("mean tension".into(), signed(s.axes[2].moments.mean())),
        (
            format!("intimacy <= {}", t.distant_intimacy_max),
            b.distant_intimacy.to_string(),
        ),
        (
            format!("positive valence (>= {})", t.positive_valence_min),
            b.positive_valence.to_string(),
        ),
        (
            format!("negative valence (<= {})", t.negative_valence_max),
            b.negative_valence.to_string(),
        ),
        (
            format!("high intimacy (>= {})", t.high_intimacy_min),
            b.high_intimacy.to_string(),
        ),
        (
            format!("high tension (>= {})", t.high_tension_min),
            b.high_tension.to_string(),
        ),
    ];
    for (k, v) in rows {
        base.row(vec![k, v]);
    }
    out.push(base);

    let mut tags = Section::new(
        format!("{prefix}top tags"),
        &["tag", "count"],
        &[false, true],
    );
    for (tag, n) in s.tags.ranked().into_iter().take(t.top_tags) {
        tags.row(vec![tag.into(), n.to_string()]);
    }
    out.push(tags);

    let mut arch = Section::new(
        format!("{prefix}archetypes"),
        &["archetype", "count", "target", "needed"],
        &[false, true, true, true],
    );
    for (name, count, target) in archetype_rows(s, targets) {
        let needed = target.map(|t| t.saturating_sub(count));
        let opt = |x: Option<u64>| x.map_or("-".into(), |x| x.to_string());
        arch.row(vec![name, count.to_string(), opt(target), opt(needed)]);
    }
    if s.archetypes.missing > 0 {
        arch.row(vec![
            "(none)".into(),
            s.archetypes.missing.to_string(),
            "-".into(),
            "-".into(),
        ]);
    }
    out.push(arch);

    for (title, counts) in [("sources", &s.sources), ("splits", &s.splits)] {
        if counts.values.is_empty() {
            continue;
        }
        let mut sec = Section::new(
            format!("{prefix}{title}"),
            &["value", "count"],
            &[false, true],
        );
        for (k, n) in counts.sorted() {
            sec.row(vec![k.into(), n.to_string()]);
        }
        if counts.missing > 0 {
            sec.row(vec!["(none)".into(), counts.missing.to_string()]);
        }
        out.push(sec);
    }

    let mut hist = Section::new(
        format!("{prefix}histograms"),
        &["axis", "bin", "count", ""],
        &[false, false, true, false],
    );
    for (axis, a) in AXES.iter().zip(&s.axes) {
        let h = &a.histogram;
        let max = h.bins.iter().copied().max().unwrap_or(0);
        for i in 0..BINS {
            let close = if i == BINS - 1 { "]" } else { ")" };
            let label = format!("[{:+.1}, {:+.1}{close}", h.edge(i), h.edge(i + 1));
            let name = if i == 0 { axis.name } else { "" };
            hist.row(vec![
                name.into(),
                label,
                h.bins[i].to_string(),
                bar(h.bins[i], max, 30),
            ]);
        }
        if h.below + h.above > 0 {
            hist.row(vec![
                "".into(),
                "out of range".into(),
                (h.below + h.above).to_string(),
                String::new(),
            ]);
        }
    }
    out.push(hist);
    out
}

fn comparison_section(c: &Comparison) -> Section {
    let mut sec = Section::new(
        format!("compare {} against {}", c.prediction, c.label),
        &[
            "subset",
            "pairs",
            "missing",
            "mae",
            "rmse",
            "bias",
            "spearman",
            "= prediction",
            "by chance",
        ],
        &[false, true, true, true, true, true, true, true, true],
    );
    let mut row = |name: String, p: &PairStats| {
        let equal = p.equal_to_prediction();
        sec.row(vec![
            name,
            p.pairs.to_string(),
            p.missing.to_string(),
            fixed(p.metric(PairedMetric::Mae)),
            fixed(p.metric(PairedMetric::Rmse)),
            signed(p.metric(PairedMetric::Bias)),
            signed(p.metric(PairedMetric::Spearman)),
            fixed(equal.map(|e| e.0)),
            fixed(equal.map(|e| e.1)),
        ])
    };
    row("all".into(), &c.overall);
    for (k, p) in &c.by_archetype {
        row(format!("archetype {k}"), p);
    }
    for (k, p) in &c.by_split {
        row(format!("split {k}"), p);
    }
    for (k, p) in &c.by_rater {
        row(format!("rater {k}"), p);
    }
    sec
}

pub fn sections(r: &Report) -> Vec<Section> {
    let mut out = summary_sections(r.summary, r.thresholds, r.targets, "");
    if let Some((by, groups)) = &r.groups {
        for (key, s) in groups {
            out.extend(summary_sections(
                s,
                r.thresholds,
                r.targets,
                &format!("{by} = {key}: "),
            ));
        }
    }
    out.extend(r.comparisons.iter().map(comparison_section));
    if !r.gates.is_empty() {
        out.push(gates_section(r.gates, format_actual));
    }
    out
}

/// A gate's measured value: whole numbers as such, others to 4 decimals.
/// The gates as `[{gate, actual, passed}]` (actual null when unmeasured).
pub fn gates_json(gates: &[GateResult]) -> Value {
    gates
        .iter()
        .map(|g| {
            let mut v = json!({"gate": g.gate, "actual": num(g.actual), "passed": g.passed});
            if !g.enforced {
                v["enforced"] = false.into();
            }
            if let Some(state) = &g.state {
                v["state"] = state.clone();
            }
            v
        })
        .collect::<Vec<_>>()
        .into()
}

/// The gates table; `actual` formats a measured value ("-" when unmeasured).
pub fn gates_section(gates: &[GateResult], actual: impl Fn(f64) -> String) -> Section {
    let mut sec = Section::new(
        "gates",
        &["gate", "actual", "result"],
        &[false, true, false],
    );
    for g in gates {
        sec.row(vec![
            g.gate.clone(),
            g.actual.map_or("-".into(), &actual),
            match (g.passed, g.enforced) {
                (true, _) => "pass",
                (false, true) => "FAIL",
                (false, false) => "fail (measured only)",
            }
            .into(),
        ]);
    }
    sec
}

pub fn format_actual(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.4}")
    }
}
