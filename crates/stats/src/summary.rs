//! The per-row accumulation behind a report: axes, the baseline
//! block's counts, tags, archetypes against targets, sources and splits.

use rustc_hash::FxHashMap;

use refinery_core::config::Baseline;

use crate::numeric::{Histogram, Moments};
use crate::view::{AxisValue, RowView, AXES};

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
    pub values: FxHashMap<String, u64>,
    pub missing: u64,
}

impl Counts {
    fn push(&mut self, value: Option<&str>) {
        match value {
            None => self.missing += 1,
            Some(s) => self.push_str(s),
        }
    }

    pub fn merge(&mut self, other: &Counts) {
        for (k, n) in &other.values {
            match self.values.get_mut(k) {
                Some(m) => *m += n,
                None => {
                    self.values.insert(k.clone(), *n);
                }
            }
        }
        self.missing += other.missing;
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

/// The baseline block's counts.
#[derive(Clone, Debug, Default)]
pub struct BaselineCounts {
    pub distant_intimacy: u64,
    pub positive_valence: u64,
    pub negative_valence: u64,
    pub high_intimacy: u64,
    pub high_tension: u64,
}

/// Cells per axis of the coverage map: 0.1 wide over [-1, 1].
pub const CELLS: usize = 20;

/// Rows per valence × intimacy cell, in two tension bands (below the
/// baseline's high-tension threshold, and at or above it): what
/// `stats --plot` draws. Rows lacking a numeric valence, intimacy or
/// tension, or outside [-1, 1], are counted apart.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    /// `cells[band][valence cell][intimacy cell]`
    pub cells: [[[u64; CELLS]; CELLS]; 2],
    pub unplaced: u64,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            cells: [[[0; CELLS]; CELLS]; 2],
            unplaced: 0,
        }
    }
}

/// The cell of a value in [-1, 1] (the last cell includes 1), else None.
pub fn cell_of(x: f64) -> Option<usize> {
    if !(-1.0..=1.0).contains(&x) {
        return None;
    }
    // Scaled as the histograms are, so -0.8 opens its cell.
    let pos = (x * (CELLS as f64 / 2.0) + CELLS as f64 / 2.0).floor();
    Some((pos.max(0.0) as usize).min(CELLS - 1))
}

impl Coverage {
    fn push(
        &mut self,
        valence: Option<f64>,
        intimacy: Option<f64>,
        tension: Option<f64>,
        high: f64,
    ) {
        let placed = (|| {
            let (v, i, t) = (cell_of(valence?)?, cell_of(intimacy?)?, tension?);
            Some((usize::from(t >= high), v, i))
        })();
        match placed {
            Some((band, v, i)) => self.cells[band][v][i] += 1,
            None => self.unplaced += 1,
        }
    }

    fn merge(&mut self, other: &Coverage) {
        for (a, b) in self
            .cells
            .iter_mut()
            .flatten()
            .flatten()
            .zip(other.cells.iter().flatten().flatten())
        {
            *a += b;
        }
        self.unplaced += other.unplaced;
    }
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
    pub coverage: Coverage,
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
            coverage: Coverage::default(),
        }
    }

    /// Adds another summary's rows to this one.
    pub fn merge(&mut self, other: &Summary) {
        self.rows += other.rows;
        for (a, b) in self.axes.iter_mut().zip(&other.axes) {
            a.moments.merge(&b.moments);
            a.histogram.merge(&b.histogram);
            a.missing += b.missing;
            a.non_numeric += b.non_numeric;
        }
        let (a, b) = (&mut self.baseline, &other.baseline);
        a.distant_intimacy += b.distant_intimacy;
        a.positive_valence += b.positive_valence;
        a.negative_valence += b.negative_valence;
        a.high_intimacy += b.high_intimacy;
        a.high_tension += b.high_tension;
        self.tags.merge(&other.tags);
        self.bad_tags += other.bad_tags;
        self.archetypes.merge(&other.archetypes);
        self.sources.merge(&other.sources);
        self.splits.merge(&other.splits);
        self.coverage.merge(&other.coverage);
    }

    pub fn push(&mut self, row: &RowView, thresholds: &Baseline) {
        self.rows += 1;
        let mut values = [None; 4];
        for (i, value) in row.axes.iter().enumerate() {
            let acc = &mut self.axes[i];
            match *value {
                AxisValue::Missing => acc.missing += 1,
                AxisValue::NonNumeric => acc.non_numeric += 1,
                AxisValue::Num(x) => {
                    acc.moments.push(x);
                    acc.histogram.push(x);
                    values[i] = Some(x);
                }
            }
        }
        let [valence, intimacy, tension, _] = values;
        self.coverage
            .push(valence, intimacy, tension, thresholds.high_tension_min);
        let b = &mut self.baseline;
        let t = thresholds;
        let count_if = |n: &mut u64, hit: bool| *n += u64::from(hit);
        count_if(
            &mut b.distant_intimacy,
            intimacy.is_some_and(|x| x <= t.distant_intimacy_max),
        );
        count_if(
            &mut b.positive_valence,
            valence.is_some_and(|x| x >= t.positive_valence_min),
        );
        count_if(
            &mut b.negative_valence,
            valence.is_some_and(|x| x <= t.negative_valence_max),
        );
        count_if(
            &mut b.high_intimacy,
            intimacy.is_some_and(|x| x >= t.high_intimacy_min),
        );
        count_if(
            &mut b.high_tension,
            tension.is_some_and(|x| x >= t.high_tension_min),
        );

        for tag in &row.tags {
            self.tags.push_str(tag);
        }
        self.bad_tags += u64::from(row.bad_tags);
        self.archetypes.push(row.archetype.as_deref());
        self.sources.push(row.source.as_deref());
        self.splits.push(row.split.as_deref());
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new()
    }
}
