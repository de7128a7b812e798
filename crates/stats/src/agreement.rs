//! `stats --agreement`: how far raters agree when they label the same
//! candidates, and whether a rater copies the predictions.
//!
//! Rows are labelled rows from several raters (one file each, or mixed):
//! rows with the same key (`--key`, default `id`) are one item, the rater
//! is `labelled_by` (`--rater-field`). Per axis the report gives
//! Krippendorff's alpha for interval data and the mean absolute difference
//! between two raters of one item; for the archetype, alpha for nominal data.
//! Where rows carry a prediction beside the label (`pred_valence` next to
//! `valence`), it gives per rater how often the label equals the prediction
//! to two decimals, and how often it would by chance.
//!
//! Alpha follows Krippendorff, "Computing Krippendorff's Alpha-Reliability"
//! (2011, Annenberg School for Communication, Departmental Papers 43),
//! through its coincidences: with m_u values in item u (items with fewer
//! than 2 are left out), n = Σ m_u,
//!
//! ```text
//! D_o = 1/n · Σ_u 1/(m_u − 1) · Σ_{i≠j in u} δ²(v_i, v_j)
//! D_e = 1/(n(n − 1)) · Σ_{i≠j over all n values} δ²(v_i, v_j)
//! α   = 1 − D_o / D_e
//! ```
//!
//! δ² = (a − b)² for interval data, [a ≠ b] for nominal data. α = 1 is
//! perfect agreement, 0 agreement no better than chance; it is undefined
//! when every value is the same (D_e = 0).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use refinery_core::expr::{Aggregate, Gate};
use refinery_core::record::{as_number, lookup};
use refinery_core::{Error, Result, Row};
use serde_json::{json, Value};

use crate::gates::GateResult;
use crate::render::Section;
use crate::report::{gates_json, gates_section};

/// The axes agreement is measured on (interval data).
pub const AGREEMENT_AXES: [&str; 3] = ["valence", "intimacy", "tension"];

/// Σ_{i≠j} (x_i − x_j)² over the ordered pairs of `xs`: 2m · Σ (x − mean)²,
/// exactly 0 when every value is the same (the mean of equal values can
/// round away from them, and alpha must then be undefined, not a number).
fn pair_squares(xs: &[f64]) -> f64 {
    if xs.windows(2).all(|w| w[0] == w[1]) {
        return 0.0;
    }
    let m = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / m;
    2.0 * m * xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>()
}

/// Krippendorff's alpha for interval data. `units[u]` holds the values the
/// raters gave item u (in any order); items with fewer than two values are
/// not pairable and are left out. `None` when fewer than two values are
/// pairable or every pairable value is the same.
pub fn alpha_interval(units: &[Vec<f64>]) -> Option<f64> {
    let pairable: Vec<&Vec<f64>> = units.iter().filter(|u| u.len() >= 2).collect();
    let all: Vec<f64> = pairable.iter().flat_map(|u| u.iter().copied()).collect();
    let n = all.len() as f64;
    if all.len() < 2 {
        return None;
    }
    let observed: f64 = pairable
        .iter()
        .map(|u| pair_squares(u) / (u.len() as f64 - 1.0))
        .sum::<f64>()
        / n;
    let expected = pair_squares(&all) / (n * (n - 1.0));
    (expected > 0.0).then(|| 1.0 - observed / expected)
}

/// Σ_{i≠j} [x_i ≠ x_j] over the ordered pairs of values with these counts:
/// m² − Σ_c n_c².
fn pair_mismatches<'a>(counts: impl Iterator<Item = &'a usize>, m: usize) -> f64 {
    let same: usize = counts.map(|c| c * c).sum();
    (m * m - same) as f64
}

fn counts<T: std::hash::Hash + Eq>(values: &[T]) -> HashMap<&T, usize> {
    let mut out = HashMap::new();
    for v in values {
        *out.entry(v).or_insert(0) += 1;
    }
    out
}

/// Krippendorff's alpha for nominal data (categories compared only for
/// equality); the same conventions as [`alpha_interval`].
pub fn alpha_nominal<T: std::hash::Hash + Eq>(units: &[Vec<T>]) -> Option<f64> {
    let pairable: Vec<&Vec<T>> = units.iter().filter(|u| u.len() >= 2).collect();
    let n: usize = pairable.iter().map(|u| u.len()).sum();
    if n < 2 {
        return None;
    }
    let observed: f64 = pairable
        .iter()
        .map(|u| pair_mismatches(counts(u).values(), u.len()) / (u.len() as f64 - 1.0))
        .sum::<f64>()
        / n as f64;
    let all: Vec<&T> = pairable.iter().flat_map(|u| u.iter()).collect();
    let expected = pair_mismatches(counts(&all).values(), n) / (n as f64 * (n as f64 - 1.0));
    (expected > 0.0).then(|| 1.0 - observed / expected)
}

/// The mean of |a − b| over every pair of raters of every item (each
/// unordered pair once); `None` without a pair.
pub fn mean_abs_difference(units: &[Vec<f64>]) -> Option<f64> {
    let (mut sum, mut pairs) = (0.0, 0u64);
    for u in units {
        for (i, a) in u.iter().enumerate() {
            for b in &u[i + 1..] {
                sum += (a - b).abs();
                pairs += 1;
            }
        }
    }
    (pairs > 0).then(|| sum / pairs as f64)
}

/// The labelled rows of several raters, by item then rater.
#[derive(Default)]
pub struct Ratings {
    /// key → rater → the rater's row for that item
    items: BTreeMap<String, BTreeMap<String, Row>>,
    /// rows that labelled an item their rater had labelled before (the later wins)
    pub relabelled: u64,
}

/// A key or rater value as text: strings as they are, numbers as written.
fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Ratings {
    /// Adds one row; the error text says which field it lacks.
    pub fn add(
        &mut self,
        row: Row,
        key: &[String],
        rater: &[String],
    ) -> std::result::Result<(), String> {
        let Some(k) = lookup(&row, key).and_then(key_text) else {
            return Err(format!(
                "no `{}` to pair raters' rows on (--key)",
                key.join(".")
            ));
        };
        let Some(r) = lookup(&row, rater).and_then(key_text) else {
            return Err(format!(
                "no `{}` naming the rater (--rater-field)",
                rater.join(".")
            ));
        };
        if self.items.entry(k).or_default().insert(r, row).is_some() {
            self.relabelled += 1;
        }
        Ok(())
    }

    /// Every rater seen.
    pub fn raters(&self) -> BTreeSet<&str> {
        self.items
            .values()
            .flat_map(|by| by.keys().map(String::as_str))
            .collect()
    }

    /// Items labelled by two raters or more.
    pub fn shared_items(&self) -> usize {
        self.items.values().filter(|by| by.len() >= 2).count()
    }

    /// Per item, the numeric values of `field` its raters gave.
    fn numbers(&self, field: &str) -> Vec<Vec<f64>> {
        self.items
            .values()
            .map(|by| {
                by.values()
                    .filter_map(|row| row.get(field).and_then(as_number))
                    .filter(|x| x.is_finite())
                    .collect()
            })
            .collect()
    }

    /// Per item, the archetypes its raters gave ("none" for no archetype).
    fn archetypes(&self) -> Vec<Vec<String>> {
        self.items
            .values()
            .map(|by| {
                by.values()
                    .map(|row| match row.get("archetype") {
                        Some(Value::String(a)) => a.clone(),
                        _ => "none".to_string(),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Agreement on one field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldAgreement {
    pub field: String,
    pub metric: &'static str,
    pub alpha: Option<f64>,
    /// mean absolute difference (interval fields only)
    pub mean_abs_difference: Option<f64>,
    /// items with two ratings or more of this field
    pub items: usize,
    /// the values in those items
    pub values: usize,
}

fn field_agreement(units: &[Vec<f64>], field: &str) -> FieldAgreement {
    let shared: Vec<Vec<f64>> = units.iter().filter(|u| u.len() >= 2).cloned().collect();
    FieldAgreement {
        field: field.to_string(),
        metric: "interval",
        alpha: alpha_interval(&shared),
        mean_abs_difference: mean_abs_difference(&shared),
        items: shared.len(),
        values: shared.iter().map(Vec::len).sum(),
    }
}

/// One rater's labels against the predictions beside them.
#[derive(Clone, Debug, PartialEq)]
pub struct Mirroring {
    pub rater: String,
    pub field: String,
    /// rows with both the label and `pred_<field>`
    pub rows: usize,
    /// of those, labels equal to the prediction at two decimals
    pub equal: usize,
    /// the share expected by chance: Σ_v P(label = v) · P(prediction = v), v at two decimals
    pub chance: f64,
}

fn two_decimals(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// Over (label, prediction) pairs: how many labels equal their prediction
/// at two decimals, and the share expected by chance, Σ_v P(label = v) ·
/// P(prediction = v) with v at two decimals (labels and predictions drawn
/// independently from their own distributions).
pub fn equal_to_prediction(pairs: &[(f64, f64)]) -> (usize, f64) {
    let rounded: Vec<(i64, i64)> = pairs
        .iter()
        .map(|&(l, p)| (two_decimals(l), two_decimals(p)))
        .collect();
    let n = rounded.len() as f64;
    let labels: Vec<i64> = rounded.iter().map(|p| p.0).collect();
    let preds: Vec<i64> = rounded.iter().map(|p| p.1).collect();
    let label_counts = counts(&labels);
    let chance = counts(&preds)
        .into_iter()
        .map(|(v, c)| label_counts.get(v).copied().unwrap_or(0) as f64 * c as f64)
        .sum::<f64>()
        / (n * n).max(1.0);
    (rounded.iter().filter(|(l, p)| l == p).count(), chance)
}

/// Per rater and axis, how often the label repeats the prediction.
pub fn mirroring(ratings: &Ratings) -> Vec<Mirroring> {
    // keyed by rater, then axis in AGREEMENT_AXES order
    let mut by: BTreeMap<(String, usize), Vec<(f64, f64)>> = BTreeMap::new();
    for items in ratings.items.values() {
        for (rater, row) in items {
            for (a, axis) in AGREEMENT_AXES.iter().enumerate() {
                let label = row.get(*axis).and_then(as_number);
                let pred = row.get(&format!("pred_{axis}")).and_then(as_number);
                if let (Some(l), Some(p)) = (label, pred) {
                    by.entry((rater.clone(), a)).or_default().push((l, p));
                }
            }
        }
    }
    by.into_iter()
        .map(|((rater, a), pairs)| {
            let (equal, chance) = equal_to_prediction(&pairs);
            Mirroring {
                rater,
                field: AGREEMENT_AXES[a].to_string(),
                rows: pairs.len(),
                equal,
                chance,
            }
        })
        .collect()
}

/// The whole agreement report.
pub struct AgreementReport {
    pub raters: Vec<String>,
    pub items: usize,
    pub shared_items: usize,
    pub relabelled: u64,
    pub fields: Vec<FieldAgreement>,
    pub mirroring: Vec<Mirroring>,
    pub gates: Vec<GateResult>,
}

impl AgreementReport {
    /// Measures every axis and the archetype, then judges the gates (each
    /// an `alpha(F)` gate; F an axis or `archetype`).
    pub fn measure(ratings: &Ratings, gates: &[Gate]) -> Result<Self> {
        let mut fields: Vec<FieldAgreement> = AGREEMENT_AXES
            .iter()
            .map(|axis| field_agreement(&ratings.numbers(axis), axis))
            .collect();
        let archetypes: Vec<Vec<String>> = ratings
            .archetypes()
            .into_iter()
            .filter(|u| u.len() >= 2)
            .collect();
        fields.push(FieldAgreement {
            field: "archetype".into(),
            metric: "nominal",
            alpha: alpha_nominal(&archetypes),
            mean_abs_difference: None,
            items: archetypes.len(),
            values: archetypes.iter().map(Vec::len).sum(),
        });
        let mut results = Vec::new();
        for gate in gates {
            let Aggregate::Alpha(path) = &gate.aggregate else {
                return Err(Error::usage(format!(
                    "--require: with --agreement only alpha(FIELD) gates apply, not `{gate}`"
                )));
            };
            let field = path.join(".");
            let actual = match fields.iter().find(|f| f.field == field) {
                Some(f) => f.alpha,
                None => {
                    let units = if path.len() == 1 {
                        ratings.numbers(&field)
                    } else {
                        Vec::new()
                    };
                    if units.iter().all(Vec::is_empty) {
                        return Err(Error::usage(format!(
                            "--require: no row has a number in `{field}` (`{gate}`); alpha is measured \
                             on valence, intimacy, tension, archetype or another numeric field"
                        )));
                    }
                    field_agreement(&units, &field).alpha
                }
            };
            results.push(GateResult {
                gate: gate.source.clone(),
                actual,
                passed: gate.passes(actual),
                enforced: true,
                state: None,
            });
        }
        Ok(AgreementReport {
            raters: ratings.raters().into_iter().map(str::to_string).collect(),
            items: ratings.items.len(),
            shared_items: ratings.shared_items(),
            relabelled: ratings.relabelled,
            fields,
            mirroring: mirroring(ratings),
            gates: results,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "schema": "refinery.agreement/1",
            "raters": self.raters,
            "items": self.items,
            "shared_items": self.shared_items,
            "relabelled": self.relabelled,
            "fields": self.fields.iter().map(|f| json!({
                "field": f.field,
                "metric": f.metric,
                "alpha": f.alpha,
                "mean_abs_difference": f.mean_abs_difference,
                "items": f.items,
                "values": f.values,
            })).collect::<Vec<_>>(),
            "mirroring": self.mirroring.iter().map(|m| json!({
                "rater": m.rater,
                "field": m.field,
                "rows": m.rows,
                "equal_to_prediction": m.equal,
                "share": m.equal as f64 / m.rows as f64,
                "chance": m.chance,
            })).collect::<Vec<_>>(),
            "gates": gates_json(&self.gates),
        })
    }

    pub fn sections(&self) -> Vec<Section> {
        let fixed = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
        let mut head = Section::new("agreement between raters", &["", ""], &[false, true]);
        head.row(vec!["raters".into(), self.raters.join(", ")]);
        head.row(vec!["items".into(), self.items.to_string()]);
        head.row(vec![
            "items labelled by 2+ raters".into(),
            self.shared_items.to_string(),
        ]);
        if self.relabelled > 0 {
            head.row(vec![
                "rows replaced by the same rater's later label".into(),
                self.relabelled.to_string(),
            ]);
        }
        let mut table = Section::new(
            "Krippendorff's alpha (1 = full agreement, 0 = chance)",
            &[
                "field",
                "data",
                "alpha",
                "mean |difference|",
                "items",
                "values",
            ],
            &[false, false, true, true, true, true],
        );
        for f in &self.fields {
            table.row(vec![
                f.field.clone(),
                f.metric.into(),
                fixed(f.alpha),
                fixed(f.mean_abs_difference),
                f.items.to_string(),
                f.values.to_string(),
            ]);
        }
        let mut out = vec![head, table];
        if !self.mirroring.is_empty() {
            let mut sec = Section::new(
                "labels equal to the prediction beside them (two decimals)",
                &["rater", "field", "rows", "equal", "share", "by chance"],
                &[false, false, true, true, true, true],
            );
            for m in &self.mirroring {
                sec.row(vec![
                    m.rater.clone(),
                    m.field.clone(),
                    m.rows.to_string(),
                    m.equal.to_string(),
                    format!("{:.3}", m.equal as f64 / m.rows as f64),
                    format!("{:.3}", m.chance),
                ]);
            }
            out.push(sec);
        }
        if !self.gates.is_empty() {
            out.push(gates_section(&self.gates, |v| format!("{v:.3}")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Krippendorff (2011), section C: 4 observers, 12 units, values 1-5,
    /// missing values as absent; the paper gives alpha = 0.743 (nominal)
    /// and 0.849 (interval).
    fn krippendorff_2011() -> Vec<Vec<f64>> {
        let nan = f64::NAN;
        let observers = [
            [1., 2., 3., 3., 2., 1., 4., 1., 2., nan, nan, nan],
            [1., 2., 3., 3., 2., 2., 4., 1., 2., 5., nan, 3.],
            [nan, 3., 3., 3., 2., 3., 4., 2., 2., 5., 1., nan],
            [1., 2., 3., 3., 2., 4., 4., 1., 2., 5., 1., nan],
        ];
        (0..12)
            .map(|u| {
                observers
                    .iter()
                    .map(|o| o[u])
                    .filter(|x| !x.is_nan())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_worked_example_of_krippendorff_2011() {
        let units = krippendorff_2011();
        let interval = alpha_interval(&units).unwrap();
        assert!((interval - 0.849).abs() < 5e-4, "{interval}");
        let nominal: Vec<Vec<i64>> = units
            .iter()
            .map(|u| u.iter().map(|x| *x as i64).collect())
            .collect();
        let nominal = alpha_nominal(&nominal).unwrap();
        assert!((nominal - 0.743).abs() < 5e-4, "{nominal}");
    }

    #[test]
    fn undefined_without_pairs_or_variation() {
        assert_eq!(alpha_interval(&[vec![0.5]]), None);
        assert_eq!(alpha_interval(&[vec![0.5, 0.5], vec![0.5, 0.5]]), None);
        assert_eq!(alpha_nominal(&[vec!["a", "a"]]), None);
        assert_eq!(mean_abs_difference(&[vec![1.0]]), None);
    }

    #[test]
    fn equal_values_everywhere_leave_alpha_undefined_whatever_the_value() {
        for v in [0.8, 0.3, 0.1, 0.7, -0.6] {
            let units = vec![vec![v; 3]; 12];
            assert_eq!(alpha_interval(&units), None, "{v}");
        }
    }

    #[test]
    fn mean_abs_difference_takes_each_pair_once() {
        let d = mean_abs_difference(&[vec![0.0, 0.3, 0.6], vec![1.0, 1.0]]).unwrap();
        // pairs: 0.3, 0.6, 0.3, 0.0
        assert!((d - 0.3).abs() < 1e-12, "{d}");
    }

    #[test]
    fn mirroring_counts_equal_labels_and_chance() {
        let mut ratings = Ratings::default();
        let key = vec!["id".to_string()];
        let rater = vec!["labelled_by".to_string()];
        for (i, (l, p)) in [(0.5, 0.5), (0.2, 0.5), (-0.3, -0.3), (0.5, 0.1)]
            .iter()
            .enumerate()
        {
            let row: Row = serde_json::from_value(json!({
                "id": i.to_string(), "labelled_by": "ana", "valence": l, "pred_valence": p
            }))
            .unwrap();
            ratings.add(row, &key, &rater).unwrap();
        }
        let m = &mirroring(&ratings)[0];
        assert_eq!((m.rows, m.equal), (4, 2));
        // labels 0.5 ×2, 0.2, -0.3; predictions 0.5 ×2, -0.3, 0.1: (2·2 + 1·1) / 16
        assert!((m.chance - 5.0 / 16.0).abs() < 1e-12);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn items() -> impl Strategy<Value = Vec<Vec<f64>>> {
            prop::collection::vec(prop::collection::vec(-10i32..=10, 2..5), 2..30).prop_map(
                |units| {
                    units
                        .into_iter()
                        .map(|u| u.into_iter().map(|x| x as f64 / 10.0).collect())
                        .collect()
                },
            )
        }

        proptest! {
            #[test]
            fn identical_raters_agree_fully(values in prop::collection::vec(-10i32..=10, 2..40), raters in 2usize..5) {
                let units: Vec<Vec<f64>> = values.iter().map(|&v| vec![v as f64 / 10.0; raters]).collect();
                if let Some(a) = alpha_interval(&units) {
                    prop_assert!((a - 1.0).abs() < 1e-9, "{a}");
                }
                let labels: Vec<Vec<i32>> = values.iter().map(|&v| vec![v; raters]).collect();
                if let Some(a) = alpha_nominal(&labels) {
                    prop_assert!((a - 1.0).abs() < 1e-9, "{a}");
                }
            }

            #[test]
            fn the_order_of_raters_and_items_does_not_matter(units in items(), seed in any::<u64>()) {
                let a = alpha_interval(&units);
                let mut shuffled = units.clone();
                let mut state = seed | 1;
                let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
                for u in shuffled.iter_mut() {
                    let k = (next() % u.len() as u64) as usize;
                    u.rotate_left(k);
                }
                let k = (next() % shuffled.len() as u64) as usize;
                shuffled.rotate_left(k);
                shuffled.reverse();
                let b = alpha_interval(&shuffled);
                match (a, b) {
                    (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-9, "{a} vs {b}"),
                    (a, b) => prop_assert_eq!(a, b),
                }
            }
        }

        #[test]
        fn independent_random_raters_are_near_zero() {
            // xorshift, so the test is the same on every run
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let units: Vec<Vec<f64>> = (0..2000)
                .map(|_| (0..3).map(|_| (next() % 21) as f64 / 10.0 - 1.0).collect())
                .collect();
            let a = alpha_interval(&units).unwrap();
            assert!(a.abs() < 0.05, "{a}");
            let labels: Vec<Vec<u64>> = (0..2000)
                .map(|_| (0..3).map(|_| next() % 7).collect())
                .collect();
            let n = alpha_nominal(&labels).unwrap();
            assert!(n.abs() < 0.05, "{n}");
        }
    }
}
