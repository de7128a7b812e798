//! The split report: rows per stratum per split against their targets,
//! groups, duplicates kept together, and the leakage check.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::exact::Store;
use crate::quotas::Filler;

pub struct Report {
    splits: Vec<String>,
    ratios: Vec<f64>,
    seed: u64,
    hash_mode: bool,
    /// stratum -> rows per split
    counts: BTreeMap<String, Vec<u64>>,
    /// stratum -> target per split (exact mode)
    targets: BTreeMap<String, Vec<u64>>,
    pub groups: Option<u64>,
    pub duplicate_texts: Option<u64>,
    pub leaked: Option<u64>,
    pub leakage_checked: bool,
}

impl Report {
    pub fn new(splits: &[String], ratios: &[f64], seed: u64, hash_mode: bool) -> Self {
        Report {
            splits: splits.to_vec(),
            ratios: ratios.to_vec(),
            seed,
            hash_mode,
            counts: BTreeMap::new(),
            targets: BTreeMap::new(),
            groups: None,
            duplicate_texts: None,
            leaked: if hash_mode { Some(0) } else { None },
            leakage_checked: false,
        }
    }

    pub fn count(&mut self, stratum: &str, split: usize) {
        let n = self.splits.len();
        match self.counts.get_mut(stratum) {
            Some(c) => c[split] += 1,
            None => {
                let mut c = vec![0; n];
                c[split] = 1;
                self.counts.insert(stratum.to_string(), c);
            }
        }
    }

    pub fn set_exact(&mut self, store: &Store, filler: &Filler) {
        for (i, name) in store.strata.iter().enumerate() {
            self.counts.insert(name.clone(), filler.filled()[i].clone());
            self.targets
                .insert(name.clone(), filler.targets()[i].clone());
        }
        self.groups = Some(store.groups);
        self.duplicate_texts = Some(store.duplicate_texts);
    }

    /// The largest gap between a split's rows and its target (exact mode)
    /// or its exact share (hash mode), over all strata.
    pub fn max_deviation(&self) -> f64 {
        let mut worst: f64 = 0.0;
        for (stratum, counts) in &self.counts {
            let n: u64 = counts.iter().sum();
            for (i, &c) in counts.iter().enumerate() {
                let want = match self.targets.get(stratum) {
                    Some(t) => t[i] as f64,
                    None => n as f64 * self.ratios[i],
                };
                worst = worst.max((c as f64 - want).abs());
            }
        }
        worst
    }

    pub fn to_json(&self) -> Value {
        let strata: Vec<Value> = self
            .counts
            .iter()
            .map(|(name, counts)| {
                let n: u64 = counts.iter().sum();
                let splits: Vec<Value> = counts
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| {
                        json!({
                            "split": self.splits[i],
                            "rows": c,
                            "target": self.targets.get(name).map(|t| t[i]),
                            "exact_share": n as f64 * self.ratios[i],
                            "ratio": if n > 0 { c as f64 / n as f64 } else { 0.0 },
                        })
                    })
                    .collect();
                json!({"stratum": name, "rows": n, "splits": splits})
            })
            .collect();
        let totals: Vec<u64> = (0..self.splits.len())
            .map(|i| self.counts.values().map(|c| c[i]).sum())
            .collect();
        let all: u64 = totals.iter().sum();
        // Each split's total against its exact share of all rows (within a
        // row in exact mode unless groups forbid it).
        let split_totals: Vec<Value> = self
            .splits
            .iter()
            .zip(&totals)
            .zip(&self.ratios)
            .map(|((name, &rows), &ratio)| {
                let exact = all as f64 * ratio;
                json!({"split": name, "rows": rows, "exact_share": (exact * 100.0).round() / 100.0,
                       "deviation_rows": ((rows as f64 - exact) * 100.0).round() / 100.0})
            })
            .collect();
        json!({
            "mode": if self.hash_mode { "hash" } else { "exact" },
            "seed": self.seed,
            "splits": self.splits,
            "ratios": self.ratios,
            "rows": totals.iter().sum::<u64>(),
            "rows_per_split": totals,
            "split_totals": split_totals,
            "strata": strata,
            "max_deviation_rows": self.max_deviation(),
            "groups": self.groups,
            "duplicate_texts_kept_together": self.duplicate_texts,
            "leaked_texts": if self.leakage_checked { self.leaked.map(Value::from).unwrap_or(Value::Null) } else { Value::Null },
        })
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let head: Vec<String> = self.splits.iter().map(|s| format!("{s:>14}")).collect();
        out.push_str(&format!(
            "{:<22} {:>7} {}\n",
            "stratum",
            "rows",
            head.join("")
        ));
        for (name, counts) in &self.counts {
            let n: u64 = counts.iter().sum();
            let cells: Vec<String> = counts
                .iter()
                .enumerate()
                .map(|(i, &c)| match self.targets.get(name) {
                    Some(t) => format!("{:>14}", format!("{c}/{}", t[i])),
                    None => format!(
                        "{:>14}",
                        format!("{c} ({:.3})", if n > 0 { c as f64 / n as f64 } else { 0.0 })
                    ),
                })
                .collect();
            out.push_str(&format!("{name:<22} {n:>7} {}\n", cells.join("")));
        }
        let what = if self.hash_mode {
            "exact share"
        } else {
            "target"
        };
        out.push_str(&format!(
            "largest gap from the {what}: {:.1} rows\n",
            self.max_deviation()
        ));
        if let Some(g) = self.groups {
            out.push_str(&format!("groups: {g}\n"));
        }
        if let Some(d) = self.duplicate_texts {
            out.push_str(&format!("duplicate texts kept with their first: {d}\n"));
        }
        match (self.leakage_checked, self.leaked) {
            (true, Some(l)) => {
                out.push_str(&format!("normalised texts in more than one split: {l}\n"))
            }
            _ => out.push_str(
                "leakage not checked: hash mode with --key or --group-by keeps no text index\n",
            ),
        }
        out
    }
}
