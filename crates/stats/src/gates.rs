//! Measuring `--require` gates over the rows, and the paired prediction
//! metrics (`--compare`) that gates can also name.

use refinery_core::expr::gate::{Aggregate, PairedMetric};
use refinery_core::expr::{Gate, Predicate};
use refinery_core::record::{as_number, lookup};
use refinery_core::Row;

use crate::exact::ExactSum;
use crate::numeric::Moments;

/// A prediction field against a label field: absolute and squared errors
/// and bias from exact sums (so parts merge to one pass's bits), and the
/// pairs kept for Spearman's rank correlation.
#[derive(Clone, Debug)]
pub struct PairStats {
    pub pairs: u64,
    /// rows where either field is missing or not a number
    pub missing: u64,
    abs_err: ExactSum,
    sq_err: ExactSum,
    signed_err: ExactSum,
    values: Vec<(f64, f64)>,
    /// Whether `values` holds every pair: not after merging reports, which
    /// carry no pairs (Spearman and the mirroring check need them all).
    complete: bool,
}

impl Default for PairStats {
    fn default() -> Self {
        PairStats {
            pairs: 0,
            missing: 0,
            abs_err: ExactSum::values(),
            sq_err: ExactSum::squares(),
            signed_err: ExactSum::values(),
            values: Vec::new(),
            complete: true,
        }
    }
}

impl PairStats {
    pub fn push(&mut self, pred: Option<f64>, label: Option<f64>) {
        let (Some(p), Some(l)) = (pred, label) else {
            self.missing += 1;
            return;
        };
        self.pairs += 1;
        let e = p - l;
        self.abs_err.add(e.abs());
        self.sq_err.add_square(e);
        self.signed_err.add(e);
        self.values.push((p, l));
    }

    pub fn merge(&mut self, other: &PairStats) {
        self.pairs += other.pairs;
        self.missing += other.missing;
        self.abs_err.merge(&other.abs_err);
        self.sq_err.merge(&other.sq_err);
        self.signed_err.merge(&other.signed_err);
        self.values.extend_from_slice(&other.values);
        self.complete &= other.complete;
    }

    /// What a report carries so that it can be merged: the exact error sums.
    pub fn exact_json(&self) -> serde_json::Value {
        serde_json::json!({
            "abs": self.abs_err.to_text(),
            "squares": self.sq_err.to_text(),
            "signed": self.signed_err.to_text(),
        })
    }

    /// Pair statistics rebuilt from a report (`pairs`, `missing`, `exact`),
    /// without the pairs themselves; None when malformed.
    pub fn from_json(v: &serde_json::Value) -> Option<PairStats> {
        let exact = &v["exact"];
        Some(PairStats {
            pairs: v["pairs"].as_u64()?,
            missing: v["missing"].as_u64()?,
            abs_err: ExactSum::parse(exact["abs"].as_str()?, false)?,
            sq_err: ExactSum::parse(exact["squares"].as_str()?, true)?,
            signed_err: ExactSum::parse(exact["signed"].as_str()?, false)?,
            values: Vec::new(),
            complete: false,
        })
    }

    pub fn metric(&self, metric: PairedMetric) -> Option<f64> {
        if self.pairs == 0 {
            return None;
        }
        let n = self.pairs as f64;
        match metric {
            PairedMetric::Mae => Some(self.abs_err.to_f64() / n),
            PairedMetric::Rmse => Some((self.sq_err.to_f64() / n).sqrt()),
            PairedMetric::Bias => Some(self.signed_err.to_f64() / n),
            PairedMetric::Spearman if self.complete => spearman(&self.values),
            PairedMetric::Spearman => None,
        }
    }

    /// The share of labels equal to their prediction at two decimals, and
    /// the share chance alone would give ([`crate::agreement::equal_to_prediction`]).
    pub fn equal_to_prediction(&self) -> Option<(f64, f64)> {
        if self.pairs == 0 || !self.complete {
            return None;
        }
        let labelled: Vec<(f64, f64)> = self.values.iter().map(|&(p, l)| (l, p)).collect();
        let (equal, chance) = crate::agreement::equal_to_prediction(&labelled);
        Some((equal as f64 / self.pairs as f64, chance))
    }
}

/// Spearman's rho: Pearson correlation of the ranks, ties given their mean
/// rank. None when either side is constant or there are fewer than 2 pairs.
pub fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 2 {
        return None;
    }
    let a = ranks(pairs.iter().map(|p| p.0));
    let b = ranks(pairs.iter().map(|p| p.1));
    pearson(&a, &b)
}

fn ranks(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let values: Vec<f64> = values.collect();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let mean_rank = (start + end - 1) as f64 / 2.0 + 1.0;
        for &i in &order[start..end] {
            ranks[i] = mean_rank;
        }
        start = end;
    }
    ranks
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    (va > 0.0 && vb > 0.0).then(|| cov / (va.sqrt() * vb.sqrt()))
}

/// A number at a dotted path, if there is one.
pub fn number_at(row: &Row, path: &[String]) -> Option<f64> {
    lookup(row, path)
        .and_then(as_number)
        .filter(|x| x.is_finite())
}

#[derive(Clone)]
enum GateState {
    Count(Option<Predicate>, u64),
    Share(Predicate, u64),
    Field(Vec<String>, Moments),
    Paired(Vec<String>, Vec<String>, PairStats),
    /// Measured between raters by `--agreement`, not over rows: never here.
    BetweenRaters,
}

/// A gate being measured.
#[derive(Clone)]
pub struct GateMeter {
    pub gate: Gate,
    /// false for `--measure`: reported, never failing the run
    pub enforced: bool,
    state: GateState,
    rows: u64,
}

/// A gate's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct GateResult {
    pub gate: String,
    pub actual: Option<f64>,
    pub passed: bool,
    /// false for a gate measured only (`--measure`)
    pub enforced: bool,
    /// the measurement a merge of reports needs (`stats --merge`)
    pub state: Option<serde_json::Value>,
}

impl GateMeter {
    pub fn new(gate: Gate) -> Self {
        let pred = |e: &refinery_core::expr::Expr| Predicate {
            source: String::new(),
            expr: e.clone(),
        };
        let state = match &gate.aggregate {
            Aggregate::Count(e) => GateState::Count(e.as_ref().map(pred), 0),
            Aggregate::Share(e) => GateState::Share(pred(e), 0),
            Aggregate::Mean(p)
            | Aggregate::Min(p)
            | Aggregate::Max(p)
            | Aggregate::Std(p)
            | Aggregate::Sum(p) => GateState::Field(p.clone(), Moments::default()),
            Aggregate::Paired(_, a, b) => {
                GateState::Paired(a.clone(), b.clone(), PairStats::default())
            }
            Aggregate::Alpha(_) => GateState::BetweenRaters,
        };
        GateMeter {
            gate,
            enforced: true,
            state,
            rows: 0,
        }
    }

    pub fn push(&mut self, row: &Row) {
        self.rows += 1;
        match &mut self.state {
            GateState::Count(None, n) => *n += 1,
            GateState::Count(Some(p), n) | GateState::Share(p, n) => {
                if p.matches(row) {
                    *n += 1;
                }
            }
            GateState::Field(path, m) => {
                if let Some(x) = number_at(row, path) {
                    m.push(x);
                }
            }
            GateState::Paired(a, b, stats) => stats.push(number_at(row, a), number_at(row, b)),
            GateState::BetweenRaters => {}
        }
    }

    /// Adds the rows another meter of the same gate measured.
    pub fn merge(&mut self, other: &GateMeter) {
        self.rows += other.rows;
        match (&mut self.state, &other.state) {
            (GateState::Count(_, a), GateState::Count(_, b))
            | (GateState::Share(_, a), GateState::Share(_, b)) => *a += b,
            (GateState::Field(_, a), GateState::Field(_, b)) => a.merge(b),
            (GateState::Paired(_, _, a), GateState::Paired(_, _, b)) => a.merge(b),
            (GateState::BetweenRaters, GateState::BetweenRaters) => {}
            _ => unreachable!("meters of one gate have one state"),
        }
    }

    pub fn actual(&self) -> Option<f64> {
        match (&self.state, &self.gate.aggregate) {
            (GateState::Count(_, n), _) => Some(*n as f64),
            (GateState::Share(_, n), _) => (self.rows > 0).then(|| *n as f64 / self.rows as f64),
            (GateState::Field(_, m), Aggregate::Mean(_)) => m.mean(),
            (GateState::Field(_, m), Aggregate::Min(_)) => m.min(),
            (GateState::Field(_, m), Aggregate::Max(_)) => m.max(),
            (GateState::Field(_, m), Aggregate::Std(_)) => m.std(),
            (GateState::Field(_, m), _) => m.sum(),
            (GateState::Paired(_, _, s), Aggregate::Paired(metric, ..)) => s.metric(*metric),
            (GateState::Paired(..), _) | (GateState::BetweenRaters, _) => None,
        }
    }

    /// What a report carries so that the gate can be measured again on
    /// merged reports.
    pub fn state_json(&self) -> serde_json::Value {
        use serde_json::json;
        match &self.state {
            GateState::Count(_, n) | GateState::Share(_, n) => {
                json!({"rows": self.rows, "matched": n})
            }
            GateState::Field(_, m) => json!({
                "rows": self.rows, "count": m.count, "min": m.min(), "max": m.max(),
                "exact": m.exact_json(),
            }),
            GateState::Paired(_, _, p) => json!({
                "rows": self.rows, "pairs": p.pairs, "missing": p.missing, "exact": p.exact_json(),
            }),
            GateState::BetweenRaters => serde_json::Value::Null,
        }
    }

    /// The meter of `gate` as a report's `state` left it; None when the
    /// state does not fit the gate.
    pub fn from_state(gate: Gate, state: &serde_json::Value) -> Option<GateMeter> {
        let mut meter = GateMeter::new(gate);
        meter.rows = state["rows"].as_u64()?;
        match &mut meter.state {
            GateState::Count(_, n) | GateState::Share(_, n) => *n = state["matched"].as_u64()?,
            GateState::Field(_, m) => {
                *m = Moments::from_json(
                    state["count"].as_u64()?,
                    state["min"].as_f64(),
                    state["max"].as_f64(),
                    &state["exact"],
                )?
            }
            GateState::Paired(_, _, p) => *p = PairStats::from_json(state)?,
            GateState::BetweenRaters => return None,
        }
        Some(meter)
    }

    pub fn result(&self) -> GateResult {
        let actual = self.actual();
        GateResult {
            gate: self.gate.source.clone(),
            actual,
            passed: self.gate.passes(actual),
            enforced: self.enforced,
            state: Some(self.state_json()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_handles_ties_and_constants() {
        let perfect = [(1.0, 10.0), (2.0, 20.0), (3.0, 35.0)];
        assert!((spearman(&perfect).unwrap() - 1.0).abs() < 1e-12);
        let reversed = [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)];
        assert!((spearman(&reversed).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&[(1.0, 1.0), (2.0, 1.0)]), None);
        assert_eq!(
            ranks([1.0, 2.0, 2.0, 3.0].into_iter()),
            vec![1.0, 2.5, 2.5, 4.0]
        );
        // scipy.stats.spearmanr([1,2,3,4,5],[5,6,7,8,7]) = 0.8207826816681233
        let s = spearman(&[(1.0, 5.0), (2.0, 6.0), (3.0, 7.0), (4.0, 8.0), (5.0, 7.0)]).unwrap();
        assert!((s - 0.820_782_681_668_123_3).abs() < 1e-12);
    }

    #[test]
    fn pair_errors() {
        let mut s = PairStats::default();
        s.push(Some(0.5), Some(0.0));
        s.push(Some(-0.5), Some(0.5));
        s.push(None, Some(0.5));
        assert_eq!(s.pairs, 2);
        assert_eq!(s.missing, 1);
        assert_eq!(s.metric(PairedMetric::Mae), Some(0.75));
        assert_eq!(s.metric(PairedMetric::Bias), Some(-0.25));
        assert!((s.metric(PairedMetric::Rmse).unwrap() - (1.25f64 / 2.0).sqrt()).abs() < 1e-12);
    }
}
