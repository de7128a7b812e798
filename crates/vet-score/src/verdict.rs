//! From scores to verdicts, the paired filter, and trait-interp's
//! `response_scores.json` summary.

use refinery_core::experiment::{vetting_summary, VettingResult};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Polarity {
    Positive,
    Negative,
}

impl Polarity {
    pub fn parse(value: Option<&Value>) -> Result<Self, String> {
        match value.and_then(Value::as_str) {
            Some("positive") => Ok(Polarity::Positive),
            Some("negative") => Ok(Polarity::Negative),
            Some(other) => Err(format!(
                "`polarity` is {other:?}; expected \"positive\" or \"negative\""
            )),
            None => Err("no `polarity` (\"positive\" or \"negative\"): a verdict needs it".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Polarity::Positive => "positive",
            Polarity::Negative => "negative",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Ambiguous,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Ambiguous => "ambiguous",
            Verdict::Error => "error",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub positive: f64,
    pub negative: f64,
}

/// A positive passes at score >= the positive threshold, a negative at
/// <= the negative threshold; between the two is ambiguous (a failure);
/// the wrong side is a failure; no score is an error (a failure too).
pub fn verdict(polarity: Polarity, score: Option<f64>, t: Thresholds) -> Verdict {
    let Some(s) = score else {
        return Verdict::Error;
    };
    let (passes, fails) = match polarity {
        Polarity::Positive => (s >= t.positive, s <= t.negative),
        Polarity::Negative => (s <= t.negative, s >= t.positive),
    };
    if passes {
        Verdict::Pass
    } else if fails {
        Verdict::Fail
    } else {
        Verdict::Ambiguous
    }
}

/// One scored row, as the summary and the paired filter see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub idx: u64,
    /// The row's `rollout` (0 without one).
    pub rollout: u64,
    /// The scenario's text at the scenario stage (trait-interp records it).
    pub scenario: Option<String>,
    pub pair: Option<String>,
    pub polarity: Polarity,
    pub score: Option<f64>,
    pub verdict: Verdict,
    pub failed_by_pair: bool,
}

impl Scored {
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass && !self.failed_by_pair
    }
}

/// trait-interp's paired filter: when one side of a pair fails, both do.
pub fn apply_pairs(rows: &mut [Scored]) {
    let failing: std::collections::HashSet<String> = rows
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .filter_map(|r| r.pair.clone())
        .collect();
    for row in rows.iter_mut() {
        if row.verdict == Verdict::Pass && row.pair.as_ref().is_some_and(|p| failing.contains(p)) {
            row.failed_by_pair = true;
        }
    }
}

/// `scenario_scores.json` / `response_scores.json` as trait-interp writes
/// them. An `idx` is the row's position in trait-interp's file: its pair
/// (or its place among its polarity's rows), and with rollouts
/// `rollout × scenarios + pair`, as responses files are rollout-major.
pub fn summary(trait_name: &str, definition: &str, t: Thresholds, rows: &[Scored]) -> Value {
    // Scenarios per rollout: the largest index of either side, plus one.
    let scenarios = rows.iter().map(|r| r.idx + 1).max().unwrap_or(0);
    let results: Vec<VettingResult> = rows
        .iter()
        .map(|r| VettingResult {
            idx: r.rollout.saturating_mul(scenarios).saturating_add(r.idx),
            scenario: r.scenario.clone(),
            positive: r.polarity == Polarity::Positive,
            score: r.score,
            passed: r.passed(),
        })
        .collect();
    vetting_summary(trait_name, definition, t.positive, t.negative, &results)
}

/// Scores are written to two decimals: the judges are not finer than that.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: Thresholds = Thresholds {
        positive: 60.0,
        negative: 40.0,
    };

    #[test]
    fn thresholds_and_the_band_between() {
        use Polarity::*;
        assert_eq!(verdict(Positive, Some(60.0), T), Verdict::Pass);
        assert_eq!(verdict(Positive, Some(59.9), T), Verdict::Ambiguous);
        assert_eq!(verdict(Positive, Some(40.0), T), Verdict::Fail);
        assert_eq!(verdict(Negative, Some(40.0), T), Verdict::Pass);
        assert_eq!(verdict(Negative, Some(40.1), T), Verdict::Ambiguous);
        assert_eq!(verdict(Negative, Some(75.0), T), Verdict::Fail);
        assert_eq!(verdict(Negative, None, T), Verdict::Error);
    }

    fn row(idx: u64, pair: &str, polarity: Polarity, verdict: Verdict) -> Scored {
        Scored {
            idx,
            rollout: 0,
            scenario: None,
            pair: Some(pair.into()),
            polarity,
            score: Some(50.0),
            verdict,
            failed_by_pair: false,
        }
    }

    #[test]
    fn one_failing_side_fails_the_pair() {
        let mut rows = vec![
            row(0, "0", Polarity::Positive, Verdict::Pass),
            row(0, "0", Polarity::Negative, Verdict::Ambiguous),
            row(1, "1", Polarity::Positive, Verdict::Pass),
            row(1, "1", Polarity::Negative, Verdict::Pass),
        ];
        apply_pairs(&mut rows);
        assert!(rows[0].failed_by_pair && !rows[0].passed());
        assert!(rows[2].passed() && rows[3].passed());
        let s = summary("t", "d", T, &rows);
        assert_eq!(s["summary"]["positive_passed"], 1);
        assert_eq!(s["summary"]["positive_failed"], 1);
        assert_eq!(s["failed_indices"]["negative"], json!([0]));
    }

    #[test]
    fn rollouts_index_a_rollout_major_file() {
        // Two scenarios, two rollouts: trait-interp's pos.json holds
        // s0r0, s1r0, s0r1, s1r1.
        let mut rows: Vec<Scored> = (0..4)
            .map(|i| row(i / 2, "p", Polarity::Positive, Verdict::Pass))
            .collect();
        for (i, r) in rows.iter_mut().enumerate() {
            r.rollout = i as u64 % 2;
        }
        rows[1].verdict = Verdict::Fail; // s0r1
        rows[1].score = Some(10.0);
        let s = summary("t", "d", T, &rows);
        let idx: Vec<&Value> = (0..4).map(|i| &s["results"][i]["idx"]).collect();
        assert_eq!(idx, [&json!(0), &json!(1), &json!(2), &json!(3)]);
        assert_eq!(s["results"][2]["score"], json!(10.0), "s0r1 is position 2");
        assert_eq!(s["failed_indices"]["positive"], json!([2]));
    }
}
