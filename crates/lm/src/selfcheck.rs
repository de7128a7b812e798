//! The judge's self-check: how well a judge separates a trait's positive
//! scenarios from its negative ones on the very data it is vetting.
//!
//! The pairs carry their own labels (the author meant positives to express
//! the trait and negatives not to), so every vetting run can say whether its
//! judge tells the two apart. A judge that cannot is not evidence: its
//! pass/fail verdicts would be noise, and the run says so.
//!
//! The measure is the AUC of positive against negative scores (the
//! probability that a random positive outscores a random negative, ties
//! counting one half; Mann & Whitney 1947, Hanley & McNeil 1982), with the
//! mean gap between the two sides in score points.

use serde_json::{json, Value};

/// AUC below which a run warns that its judge cannot separate the trait.
///
/// Chosen from the measurements in the README: judges that were useful on
/// real trait files reached 0.85-1.0; a 135M digit judge sat at 0.54-0.69.
/// With 16 pairs, chance alone exceeds 0.75 about once in a hundred runs.
pub const DEFAULT_MIN_AUC: f64 = 0.75;

/// The separation of positive from negative scores.
#[derive(Clone, Debug, PartialEq)]
pub struct Separation {
    /// Positive rows with a score.
    pub positives: usize,
    /// Negative rows with a score.
    pub negatives: usize,
    /// Rows of either side without a score (left out of the figures).
    pub unscored: usize,
    /// P(positive score > negative score) + ½ P(equal); None when a side
    /// has no scored row.
    pub auc: Option<f64>,
    /// Mean positive score minus mean negative score (score points).
    pub mean_gap: Option<f64>,
    /// The paired comparison, where rows name their pair: of the pairs with
    /// both sides scored, how many have the positive above its negative.
    pub pairs: Option<PairOrder>,
}

/// Pairs whose positive outscored its negative (mean over a side's rows,
/// when a pair has several rollouts), of the pairs with both sides scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairOrder {
    /// Pairs with the positive above its negative.
    pub ordered: usize,
    /// Pairs with both sides scored.
    pub pairs: usize,
}

impl PairOrder {
    /// From (pair, is the row positive, its score); `None` when no pair has
    /// both sides scored.
    pub fn of<'a>(rows: impl IntoIterator<Item = (&'a str, bool, Option<f64>)>) -> Option<Self> {
        // pair -> (sum, count) of positives, then of negatives
        let mut sides: std::collections::BTreeMap<&str, [(f64, usize); 2]> = Default::default();
        for (pair, positive, score) in rows {
            if let Some(s) = score.filter(|s| s.is_finite()) {
                let side = &mut sides.entry(pair).or_default()[usize::from(!positive)];
                side.0 += s;
                side.1 += 1;
            }
        }
        let both: Vec<(f64, f64)> = sides
            .values()
            .filter(|[p, n]| p.1 > 0 && n.1 > 0)
            .map(|[p, n]| (p.0 / p.1 as f64, n.0 / n.1 as f64))
            .collect();
        (!both.is_empty()).then(|| PairOrder {
            ordered: both.iter().filter(|(p, n)| p > n).count(),
            pairs: both.len(),
        })
    }
}

/// What the self-check concludes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// AUC at or above the floor.
    Separates,
    /// AUC below the floor.
    CannotSeparate,
    /// A side has no scored row, or too few rows for the floor to mean
    /// anything (chance alone would often reach it).
    TooFewRows,
}

impl Finding {
    /// The finding as summaries record it.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Separates => "separates",
            Finding::CannotSeparate => "cannot_separate",
            Finding::TooFewRows => "too_few_rows",
        }
    }
}

impl Separation {
    /// From (is the row positive, its score) pairs.
    pub fn of(rows: impl IntoIterator<Item = (bool, Option<f64>)>) -> Self {
        let (mut pos, mut neg, mut unscored) = (Vec::new(), Vec::new(), 0);
        for (positive, score) in rows {
            match (positive, score.filter(|s| s.is_finite())) {
                (true, Some(s)) => pos.push(s),
                (false, Some(s)) => neg.push(s),
                (_, None) => unscored += 1,
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        Separation {
            positives: pos.len(),
            negatives: neg.len(),
            unscored,
            auc: auc(&pos, &neg),
            mean_gap: (!pos.is_empty() && !neg.is_empty()).then(|| mean(&pos) - mean(&neg)),
            pairs: None,
        }
    }

    /// The same, with the paired comparison of [`PairOrder::of`].
    pub fn with_pairs(mut self, pairs: Option<PairOrder>) -> Self {
        self.pairs = pairs;
        self
    }

    /// The AUC that chance alone stays under 95% of the time at these
    /// sizes: 0.5 + 1.645 σ, σ² = (n₁ + n₂ + 1) / (12 n₁ n₂) (the
    /// Mann-Whitney statistic's variance without ties).
    pub fn chance_ceiling(&self) -> Option<f64> {
        let (a, b) = (self.positives as f64, self.negatives as f64);
        (a > 0.0 && b > 0.0).then(|| 0.5 + 1.645 * ((a + b + 1.0) / (12.0 * a * b)).sqrt())
    }

    /// What the check says at `min_auc`: separates, cannot separate, or too
    /// few rows to tell (chance alone could reach the floor).
    pub fn finding(&self, min_auc: f64) -> Finding {
        match (self.auc, self.chance_ceiling()) {
            (Some(auc), Some(ceiling)) if auc >= min_auc && auc >= ceiling => Finding::Separates,
            (Some(auc), Some(ceiling)) if auc < min_auc && ceiling < min_auc => {
                Finding::CannotSeparate
            }
            // A side without scores, or so few rows that chance reaches the
            // floor too: neither verdict would be honest.
            _ => Finding::TooFewRows,
        }
    }

    /// The self-check as it goes into summary files and reports.
    pub fn to_json(&self, min_auc: f64) -> Value {
        let r = |x: Option<f64>, scale: f64| x.map(|v| (v * scale).round() / scale);
        json!({
            "auc": r(self.auc, 1000.0),
            "mean_gap": r(self.mean_gap, 100.0),
            "positives": self.positives,
            "negatives": self.negatives,
            "unscored": self.unscored,
            "min_auc": min_auc,
            "chance_auc": r(self.chance_ceiling(), 1000.0),
            "finding": self.finding(min_auc).as_str(),
            "pairs": self.pairs.map(|p| p.pairs),
            "pairs_ordered": self.pairs.map(|p| p.ordered),
        })
    }

    /// Prints [`Self::describe`] on stderr: as a note, or, when the judge
    /// cannot separate the trait, as a warning that `--quiet` does not hide.
    pub fn report(&self, tool: &refinery_core::Tool, what: &str, min_auc: f64) {
        let line = self.describe(what, min_auc);
        if self.finding(min_auc) == Finding::CannotSeparate {
            tool.say(&line);
        } else {
            tool.note(&line);
        }
    }

    /// One line for stderr or a report: the figures, then what they mean.
    pub fn describe(&self, what: &str, min_auc: f64) -> String {
        let figures = match (self.auc, self.mean_gap) {
            (Some(auc), Some(gap)) => format!(
                "AUC {auc:.2} of positive vs negative scores, mean gap {gap:+.1} points{} ({} positives, {} negatives scored{})",
                self.pairs.map_or(String::new(), |p| format!(
                    ", {}/{} pairs with the positive above its negative",
                    p.ordered, p.pairs
                )),
                self.positives,
                self.negatives,
                if self.unscored > 0 { format!(", {} without a score", self.unscored) } else { String::new() }
            ),
            _ => format!(
                "{} positives and {} negatives scored",
                self.positives, self.negatives
            ),
        };
        let meaning = match self.finding(min_auc) {
            Finding::Separates => "the judge separates this trait's positives from its negatives".to_string(),
            Finding::CannotSeparate => format!(
                "WARNING: this judge cannot tell this trait's positives from its negatives (AUC below {min_auc}), \
                 so its verdicts are not evidence; use a stronger judge model (--model DIR, or \
                 --backend openai) or another kind of judge (--judge)"
            ),
            Finding::TooFewRows => match self.chance_ceiling() {
                Some(c) => format!(
                    "too few rows to tell whether the judge separates the trait (chance alone reaches AUC {c:.2} at this size)"
                ),
                None => "a side has no scored row: no self-check".to_string(),
            },
        };
        format!("self-check ({what}): {figures}: {meaning}")
    }
}

/// AUC of `pos` against `neg` by ranks (ties share their mean rank),
/// O(n log n). None when either side is empty.
pub fn auc(pos: &[f64], neg: &[f64]) -> Option<f64> {
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = pos
        .iter()
        .map(|&s| (s, true))
        .chain(neg.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum_pos += mean_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (n1, n2) = (pos.len() as f64, neg.len() as f64);
    let u = rank_sum_pos - n1 * (n1 + 1.0) / 2.0;
    Some(u / (n1 * n2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition by pairs, for checking the rank formula.
    fn auc_by_pairs(pos: &[f64], neg: &[f64]) -> f64 {
        let mut wins = 0.0;
        for p in pos {
            for n in neg {
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        wins / (pos.len() * neg.len()) as f64
    }

    #[test]
    fn perfect_reversed_and_tied() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(auc(&[1.0, 2.0], &[3.0, 4.0]), Some(0.0));
        assert_eq!(auc(&[5.0, 5.0, 5.0], &[5.0, 5.0]), Some(0.5));
        // One tie among four comparisons: (1 + 1 + 0.5 + 0) / 4.
        assert_eq!(auc(&[2.0, 3.0], &[1.0, 3.0]), Some(0.625));
    }

    #[test]
    fn a_side_without_scores_has_no_auc() {
        assert_eq!(auc(&[], &[1.0]), None);
        let s = Separation::of([(true, Some(1.0)), (false, None)]);
        assert_eq!((s.auc, s.mean_gap, s.unscored), (None, None, 1));
        assert_eq!(s.finding(DEFAULT_MIN_AUC), Finding::TooFewRows);
    }

    #[test]
    fn ranks_agree_with_counting_pairs() {
        let pos = [34.0, 35.5, 31.0, 41.0, 35.5, 38.0, 33.0];
        let neg = [33.0, 35.5, 30.0, 36.0, 32.0];
        assert!((auc(&pos, &neg).unwrap() - auc_by_pairs(&pos, &neg)).abs() < 1e-12);
    }

    #[test]
    fn all_equal_scores_cannot_separate() {
        let rows = (0..40).map(|i| (i % 2 == 0, Some(35.0)));
        let s = Separation::of(rows);
        assert_eq!(s.auc, Some(0.5));
        assert_eq!(s.mean_gap, Some(0.0));
        assert_eq!(s.finding(DEFAULT_MIN_AUC), Finding::CannotSeparate);
        assert!(s.describe("scenario", DEFAULT_MIN_AUC).contains("WARNING"));
    }

    #[test]
    fn few_rows_are_not_judged_either_way() {
        // 3 vs 3: chance reaches 0.5 + 1.645 * sqrt(7/108) = 0.92.
        let s = Separation::of([
            (true, Some(1.0)),
            (true, Some(2.0)),
            (true, Some(9.0)),
            (false, Some(3.0)),
            (false, Some(4.0)),
            (false, Some(5.0)),
        ]);
        assert!((s.chance_ceiling().unwrap() - 0.9188).abs() < 1e-3);
        assert_eq!(s.finding(DEFAULT_MIN_AUC), Finding::TooFewRows);
    }

    #[test]
    fn a_clear_judge_separates() {
        let rows = (0..32).map(|i| (i < 16, Some(if i < 16 { 70.0 + i as f64 } else { 20.0 })));
        let s = Separation::of(rows);
        assert_eq!(s.auc, Some(1.0));
        assert_eq!(s.finding(DEFAULT_MIN_AUC), Finding::Separates);
        assert_eq!(s.to_json(0.75)["finding"], "separates");
    }

    #[test]
    fn pairs_are_compared_by_their_sides_means() {
        let rows = [
            ("0", true, Some(70.0)),
            ("0", false, Some(30.0)),
            ("1", true, Some(40.0)),
            ("1", true, Some(60.0)),
            ("1", false, Some(55.0)),
            ("2", true, Some(20.0)),
            ("2", false, None),
            ("3", false, Some(10.0)),
        ];
        let order = PairOrder::of(rows).unwrap();
        // pair 0 ordered; pair 1: mean 50 < 55; pairs 2 and 3 lack a side
        assert_eq!(
            order,
            PairOrder {
                ordered: 1,
                pairs: 2
            }
        );
        assert_eq!(PairOrder::of([("0", true, Some(1.0))]), None);
        let s = Separation::of(rows.iter().map(|r| (r.1, r.2))).with_pairs(Some(order));
        assert!(s
            .describe("scenario stage", 0.75)
            .contains("1/2 pairs with the positive above its negative"));
    }
}
