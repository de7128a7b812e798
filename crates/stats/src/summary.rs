//! The per-row accumulation behind a report: axes, the seed's baseline
//! counts, tags, archetypes against targets, sources and splits.

use std::collections::HashMap;

use refinery_core::config::Baseline;
use refinery_core::record::as_number;
use refinery_core::Row;
use serde_json::Value;

use crate::numeric::{Histogram, Moments};

/// An axis the report always covers, with its histogram range.
pub struct Axis {
    pub name: &'static str,
    pub lo: f64,
    pub hi: f64,
}

pub const AXES: [Axis; 4] = [
    Axis {
        name: "valence",
        lo: -1.0,
        hi: 1.0,
    },
    Axis {
        name: "intimacy",
        lo: -1.0,
        hi: 1.0,
    },
    Axis {
        name: "tension",
        lo: -1.0,
        hi: 1.0,
    },
    Axis {
        name: "confidence",
        lo: 0.0,
        hi: 1.0,
    },
];

/// The fields a summary reads from each row.
pub const SUMMARY_FIELDS: [&str; 7] = [
    "valence",
    "intimacy",
    "tension",
    "confidence",
    "tags",
    "archetype",
    "source",
];
pub const SPLIT_FIELD: &str = "split";

/// One axis: numeric values summarised, the rest counted.
#[derive(Clone, Debug)]
pub struct AxisSummary {
    pub moments: Moments,
    pub histogram: Histogram,
    /// rows without the field (or with null)
    pub missing: u64,
    /// rows where it is not a number
    pub non_numeric: u64,
}

/// Counts of a categorical field's values; rows without it are `missing`.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub values: HashMap<String, u64>,
    pub missing: u64,
}

impl Counts {
    fn push(&mut self, value: Option<&Value>) {
        match value {
            None | Some(Value::Null) => self.missing += 1,
            Some(Value::String(s)) => self.push_str(s),
            Some(v) => self.push_str(&category_key(v)),
        }
    }

    fn push_str(&mut self, key: &str) {
        // Look up before inserting: almost every key is already there, and
        // this saves an allocation per row.
        match self.values.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                self.values.insert(key.to_string(), 1);
            }
        }
    }

    /// Values by count, most common first, ties by name.
    pub fn ranked(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<_> = self.values.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// Values in name order.
    pub fn sorted(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<_> = self.values.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        v.sort();
        v
    }

    pub fn get(&self, key: &str) -> u64 {
        self.values.get(key).copied().unwrap_or(0)
    }
}

/// A categorical value as a key: a string as itself, anything else as JSON.
pub fn category_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The seed's baseline counts.
#[derive(Clone, Debug, Default)]
pub struct BaselineCounts {
    pub distant_intimacy: u64,
    pub positive_valence: u64,
    pub negative_valence: u64,
    pub high_intimacy: u64,
    pub high_tension: u64,
}

/// Everything a report says about one set of rows.
#[derive(Clone, Debug)]
pub struct Summary {
    pub rows: u64,
    pub axes: Vec<AxisSummary>,
    pub baseline: BaselineCounts,
    pub tags: Counts,
    /// rows whose `tags` is present but not an array of strings (the string
    /// elements of such an array are still counted)
    pub bad_tags: u64,
    pub archetypes: Counts,
    pub sources: Counts,
    pub splits: Counts,
}

impl Summary {
    pub fn new() -> Self {
        Summary {
            rows: 0,
            axes: AXES
                .iter()
                .map(|a| AxisSummary {
                    moments: Moments::default(),
                    histogram: Histogram::new(a.lo, a.hi),
                    missing: 0,
                    non_numeric: 0,
                })
                .collect(),
            baseline: BaselineCounts::default(),
            tags: Counts::default(),
            bad_tags: 0,
            archetypes: Counts::default(),
            sources: Counts::default(),
            splits: Counts::default(),
        }
    }

    pub fn push(&mut self, row: &Row, thresholds: &Baseline) {
        self.rows += 1;
        let mut values = [None; 4];
        for (i, axis) in AXES.iter().enumerate() {
            let acc = &mut self.axes[i];
            match row.get(axis.name) {
                None | Some(Value::Null) => acc.missing += 1,
                Some(v) => match as_number(v) {
                    Some(x) if x.is_finite() => {
                        acc.moments.push(x);
                        acc.histogram.push(x);
                        values[i] = Some(x);
                    }
                    _ => acc.non_numeric += 1,
                },
            }
        }
        let [valence, intimacy, tension, _] = values;
        let b = &mut self.baseline;
        let count_if = |n: &mut u64, v: Option<f64>, test: &dyn Fn(f64) -> bool| {
            if v.is_some_and(test) {
                *n += 1;
            }
        };
        count_if(&mut b.distant_intimacy, intimacy, &|x| {
            x <= thresholds.distant_intimacy_max
        });
        count_if(&mut b.positive_valence, valence, &|x| {
            x >= thresholds.positive_valence_min
        });
        count_if(&mut b.negative_valence, valence, &|x| {
            x <= thresholds.negative_valence_max
        });
        count_if(&mut b.high_intimacy, intimacy, &|x| {
            x >= thresholds.high_intimacy_min
        });
        count_if(&mut b.high_tension, tension, &|x| {
            x >= thresholds.high_tension_min
        });

        match row.get("tags") {
            None | Some(Value::Null) => {}
            Some(Value::Array(tags)) => {
                let mut all_strings = true;
                for tag in tags {
                    match tag {
                        Value::String(s) => self.tags.push_str(s),
                        _ => all_strings = false,
                    }
                }
                if !all_strings {
                    self.bad_tags += 1;
                }
            }
            Some(_) => self.bad_tags += 1,
        }
        self.archetypes.push(row.get("archetype"));
        self.sources.push(row.get("source"));
        self.splits.push(row.get(SPLIT_FIELD));
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new()
    }
}
