//! What `stats` measures while rows stream past, per chunk of lines on a
//! worker thread, and how the chunks' measurements are merged in order.

use std::collections::HashMap;

use refinery_core::config::Baseline;
use refinery_core::expr::Predicate;
use refinery_core::parallel::Chunk;
use refinery_core::reader::too_long_reason;
use refinery_core::record::{check_object_text, lookup, parse_fields, FieldSet};
use refinery_core::rejects::BadLine;
use refinery_core::{Row, Tally};
use serde_json::Value;

use crate::gates::{number_at, GateMeter};
use crate::report::Comparison;
use crate::summary::Summary;
use crate::view::RowView;
use crate::view::{category_key, SPLIT_FIELD};

/// The field `label` names the rater in.
pub const RATER_FIELD: &str = "labelled_by";

/// A `--compare` pair: where to find the prediction and the label.
#[derive(Clone)]
pub struct CompareSpec {
    pub prediction: Vec<String>,
    pub label: Vec<String>,
    pub stats: Comparison,
}

/// The key a row's group or category is filed under.
pub fn key_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(none)".into(),
        Some(v) => category_key(v),
    }
}

/// Everything measured over a set of rows.
#[derive(Clone)]
pub struct Meters {
    pub summary: Summary,
    pub groups: HashMap<String, Summary>,
    pub by: Option<Vec<String>>,
    pub gates: Vec<GateMeter>,
    pub compares: Vec<CompareSpec>,
}

impl Meters {
    /// Whether rows must be parsed in full (a predicate, gate, group or
    /// comparison may read any field), or the summary's fast path will do.
    pub fn needs_rows(&self, predicate: bool) -> bool {
        predicate || self.by.is_some() || !self.gates.is_empty() || !self.compares.is_empty()
    }

    fn push(&mut self, row: &Row, thresholds: &Baseline) {
        let view = RowView::from_row(row);
        self.summary.push(&view, thresholds);
        if let Some(by) = &self.by {
            let key = key_of(lookup(row, by));
            self.groups.entry(key).or_default().push(&view, thresholds);
        }
        for g in &mut self.gates {
            g.push(row);
        }
        for c in &mut self.compares {
            let p = number_at(row, &c.prediction);
            let l = number_at(row, &c.label);
            c.stats.overall.push(p, l);
            let archetype = key_of(row.get("archetype"));
            c.stats
                .by_archetype
                .entry(archetype)
                .or_default()
                .push(p, l);
            if let Some(split) = row.get(SPLIT_FIELD).filter(|v| !v.is_null()) {
                let split = category_key(split);
                c.stats.by_split.entry(split).or_default().push(p, l);
            }
            if let Some(rater) = row.get(RATER_FIELD).filter(|v| !v.is_null()) {
                let rater = category_key(rater);
                c.stats.by_rater.entry(rater).or_default().push(p, l);
            }
        }
    }

    /// Adds a later chunk's measurements.
    pub fn merge(&mut self, other: &Meters) {
        self.summary.merge(&other.summary);
        for (k, s) in &other.groups {
            self.groups.entry(k.clone()).or_default().merge(s);
        }
        for (a, b) in self.gates.iter_mut().zip(&other.gates) {
            a.merge(b);
        }
        for (a, b) in self.compares.iter_mut().zip(&other.compares) {
            a.stats.merge(&b.stats);
        }
    }
}

/// One chunk's measurements.
pub struct Part {
    pub meters: Meters,
    pub bad: Vec<BadLine>,
    pub tally: Tally,
}

/// How to measure a chunk.
pub struct Measure<'a> {
    pub fast: bool,
    pub template: &'a Meters,
    pub fields: &'a FieldSet,
    pub predicate: Option<&'a Predicate>,
    pub thresholds: &'a Baseline,
    pub max_line_bytes: usize,
}

impl Measure<'_> {
    pub fn chunk(&self, chunk: &Chunk) -> Part {
        let mut part = Part {
            meters: self.template.clone(),
            bad: Vec::new(),
            tally: Tally::default(),
        };
        for line in chunk.lines() {
            part.tally.read += 1;
            if let Some(len) = line.too_long {
                let reason = too_long_reason(len, self.max_line_bytes);
                part.bad.push(BadLine {
                    location: line.location.clone(),
                    reason,
                    raw: line.bytes.to_vec(),
                });
                continue;
            }
            if self.fast {
                if let Some(view) = check_object_text(line.bytes)
                    .ok()
                    .and_then(RowView::parse_fast)
                {
                    part.meters.summary.push(&view, self.thresholds);
                    part.tally.written += 1;
                    continue;
                }
            }
            let row = match parse_fields(line.bytes, self.fields) {
                Ok(row) => row,
                Err(e) => {
                    part.bad.push(BadLine {
                        location: line.location.clone(),
                        reason: e.0,
                        raw: line.bytes.to_vec(),
                    });
                    continue;
                }
            };
            if self.predicate.is_some_and(|p| !p.matches(&row)) {
                part.tally.filtered += 1;
                continue;
            }
            part.meters.push(&row, self.thresholds);
            part.tally.written += 1;
        }
        part
    }
}
