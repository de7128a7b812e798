//! Streaming numeric summaries: count, mean, standard deviation, extremes,
//! and a fixed-range histogram, in constant memory.

use crate::exact::{round_scaled, ExactSum};

/// Count, mean, population standard deviation, min and max, from exact
/// sums of the values and of their squares ([`ExactSum`]): merging the
/// summaries of any parts, in any order, gives the same bits as one pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    pub count: u64,
    sum: ExactSum,
    squares: ExactSum,
    min: f64,
    max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            count: 0,
            sum: ExactSum::values(),
            squares: ExactSum::squares(),
            min: 0.0,
            max: 0.0,
        }
    }
}

impl Moments {
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        if self.count == 1 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.sum.add(x);
        self.squares.add_square(x);
    }

    /// Adds another summary's values.
    pub fn merge(&mut self, other: &Moments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.count += other.count;
        self.sum.merge(&other.sum);
        self.squares.merge(&other.squares);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The mean: the exact sum rounded, divided by the count (scaled down
    /// first when the sum itself is beyond f64, as 1e308 + 1e308 is).
    pub fn mean(&self) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        let sum = self.sum.to_f64();
        Some(if sum.is_finite() {
            sum / n
        } else {
            round_scaled(&self.sum.to_bigint(), 1074 + 64) / n * 2f64.powi(64)
        })
    }

    /// Population standard deviation (divides by n, as numpy's default):
    /// sqrt((n Σx² − (Σx)²) / n²), the numerator computed exactly, so a
    /// constant column has exactly 0.
    pub fn std(&self) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let s = self.sum.to_bigint();
        let numerator = self.squares.to_bigint() * self.count - &s * &s;
        let n = self.count as f64;
        Some((round_scaled(&numerator, 2 * 1074) / n / n).max(0.0).sqrt())
    }

    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// The sum of the values, rounded once.
    pub fn sum(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum.to_f64())
    }

    /// What a report carries so that it can be merged: the exact sums.
    pub fn exact_json(&self) -> serde_json::Value {
        serde_json::json!({"sum": self.sum.to_text(), "squares": self.squares.to_text()})
    }

    /// A summary rebuilt from a report's count, min, max and exact sums;
    /// None when one is missing or malformed.
    pub fn from_json(
        count: u64,
        min: Option<f64>,
        max: Option<f64>,
        exact: &serde_json::Value,
    ) -> Option<Moments> {
        if count == 0 {
            return Some(Moments::default());
        }
        Some(Moments {
            count,
            sum: ExactSum::parse(exact["sum"].as_str()?, false)?,
            squares: ExactSum::parse(exact["squares"].as_str()?, true)?,
            min: min?,
            max: max?,
        })
    }
}

pub const BINS: usize = 10;

/// Ten equal bins over `[lo, hi]`; the last bin includes `hi`. Values outside
/// the range are counted below or above, not clamped into an edge bin.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub bins: [u64; BINS],
    pub below: u64,
    pub above: u64,
}

impl Histogram {
    pub fn new(lo: f64, hi: f64) -> Self {
        Histogram {
            lo,
            hi,
            bins: [0; BINS],
            below: 0,
            above: 0,
        }
    }

    pub fn push(&mut self, x: f64) {
        if x < self.lo {
            self.below += 1;
        } else if x > self.hi {
            self.above += 1;
        } else {
            self.bins[self.bin_of(x)] += 1;
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.bins.iter_mut().zip(other.bins) {
            *a += b;
        }
        self.below += other.below;
        self.above += other.above;
    }

    /// The bin of an in-range value. Scaling first (`x * k - lo * k`, not
    /// `(x - lo) / width`) keeps decimal edges such as -0.8 in the bin they
    /// open: `(-0.8 + 1.0) / 0.2` is 0.999…, `-0.8 * 5 + 5` is exactly 1.
    pub fn bin_of(&self, x: f64) -> usize {
        let scale = BINS as f64 / (self.hi - self.lo);
        let pos = (x * scale - self.lo * scale).floor();
        (pos.max(0.0) as usize).min(BINS - 1)
    }

    /// The lower edge of bin `i`.
    pub fn edge(&self, i: usize) -> f64 {
        self.lo + (self.hi - self.lo) * i as f64 / BINS as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_a_small_set() {
        let mut m = Moments::default();
        assert_eq!(m.mean(), None);
        for x in [1.0, 2.0, 3.0, 4.0] {
            m.push(x);
        }
        assert_eq!(m.mean(), Some(2.5));
        assert!((m.std().unwrap() - 1.118_033_988_749_895).abs() < 1e-12);
        assert_eq!(m.min(), Some(1.0));
        assert_eq!(m.max(), Some(4.0));
        assert_eq!(m.sum(), Some(10.0));
    }

    #[test]
    fn merged_moments_equal_one_pass() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| ((i * 37) % 201) as f64 / 100.0 - 1.0)
            .collect();
        let mut whole = Moments::default();
        xs.iter().for_each(|&x| whole.push(x));
        let mut merged = Moments::default();
        for part in xs.chunks(97) {
            let mut m = Moments::default();
            part.iter().for_each(|&x| m.push(x));
            merged.merge(&m);
        }
        assert_eq!(merged, whole, "exactly, not nearly");
        let mut constant = Moments::default();
        (0..7).for_each(|_| constant.push(0.3));
        assert_eq!(constant.std(), Some(0.0));
        assert_eq!(constant.mean(), Some(0.3));
        let mut huge = Moments::default();
        huge.push(1e308);
        huge.push(1e308);
        assert_eq!(
            huge.mean(),
            Some(1e308),
            "a sum beyond f64 still has a mean"
        );
    }

    proptest::proptest! {
        /// Any values, cut anywhere, merged in any order: the same bits as
        /// one pass (what `stats --merge` of shard reports relies on).
        #[test]
        fn any_cut_merges_to_one_pass(
            xs in proptest::collection::vec(-1e6f64..1e6, 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..6),
            reverse in proptest::bool::ANY,
        ) {
            let mut whole = Moments::default();
            xs.iter().for_each(|&x| whole.push(x));
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(xs.len())).collect();
            points.push(0);
            points.push(xs.len());
            points.sort_unstable();
            let mut parts: Vec<Moments> = points
                .windows(2)
                .map(|w| {
                    let mut m = Moments::default();
                    xs[w[0]..w[1]].iter().for_each(|&x| m.push(x));
                    m
                })
                .collect();
            if reverse {
                parts.reverse();
            }
            let mut merged = Moments::default();
            parts.iter().for_each(|p| merged.merge(p));
            proptest::prop_assert_eq!(&merged, &whole);
            proptest::prop_assert_eq!(merged.std(), whole.std());
        }
    }

    #[test]
    fn every_two_decimal_value_lands_in_its_decimal_bin() {
        let h = Histogram::new(-1.0, 1.0);
        for k in -100i64..=100 {
            let x = k as f64 / 100.0;
            let expected = (((k + 100) / 20) as usize).min(BINS - 1);
            assert_eq!(h.bin_of(x), expected, "{x}");
        }
        let c = Histogram::new(0.0, 1.0);
        for k in 0i64..=100 {
            let x = k as f64 / 100.0;
            let expected = ((k / 10) as usize).min(BINS - 1);
            assert_eq!(c.bin_of(x), expected, "{x}");
        }
    }

    #[test]
    fn out_of_range_values_are_counted_apart() {
        let mut h = Histogram::new(-1.0, 1.0);
        h.push(-1.5);
        h.push(1.0);
        h.push(2.0);
        assert_eq!((h.below, h.above, h.bins[9]), (1, 1, 1));
        assert_eq!(h.edge(1), -0.8);
    }
}
