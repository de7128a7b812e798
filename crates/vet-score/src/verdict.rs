//! From scores to verdicts, the paired filter, and trait-interp's
//! `response_scores.json` summary.

use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// `response_scores.json` as trait-interp writes it.
pub fn summary(trait_name: &str, definition: &str, t: Thresholds, rows: &[Scored]) -> Value {
    let count = |pol: Polarity, passed: bool| {
        rows.iter()
            .filter(|r| r.polarity == pol && r.passed() == passed)
            .count()
    };
    let failed = |pol: Polarity| {
        rows.iter()
            .filter(|r| r.polarity == pol && !r.passed())
            .map(|r| r.idx)
            .collect::<Vec<_>>()
    };
    json!({
        "trait": trait_name,
        "trait_definition": definition,
        "thresholds": {"pos_threshold": t.positive, "neg_threshold": t.negative},
        "summary": {
            "positive_passed": count(Polarity::Positive, true),
            "negative_passed": count(Polarity::Negative, true),
            "positive_failed": count(Polarity::Positive, false),
            "negative_failed": count(Polarity::Negative, false),
            "errors": rows.iter().filter(|r| r.verdict == Verdict::Error).count(),
        },
        "failed_indices": {"positive": failed(Polarity::Positive), "negative": failed(Polarity::Negative)},
        "results": rows.iter().map(|r| json!({"idx": r.idx, "polarity": r.polarity.as_str(), "score": r.score.map(round2)})).collect::<Vec<_>>(),
    })
}

/// Scores are written to two decimals: the judges are not finer than that.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
