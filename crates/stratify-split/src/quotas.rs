//! Split sizes and the assignment of rows (or indivisible units of rows) to
//! splits so that every stratum's splits come as close to their quotas as
//! the units allow.

/// Quotas for every stratum and split at once (a controlled rounding of the
/// strata × splits table of exact shares `n_k * ratio_s`): each cell is its
/// exact share rounded down or up, each stratum's quotas add up to its
/// size, **and** each split's total is its exact share of all rows rounded
/// down or up. Rounding each stratum on its own (largest remainder) cannot
/// promise the last: 8 strata of 5 rows at 0.8/0.1/0.1 would give 32/8/0,
/// an empty test split. Such a rounding always exists (Cox & Ernst, 1982,
/// "Controlled rounding"); it is found as an integral flow: each stratum
/// sends its leftover rows (size − Σ floors) through cells with a fractional
/// part to the splits, each split taking at least the floor and at most the
/// ceiling of its cells' fractional parts. Which cells get the extra rows
/// among equally good choices is drawn from `seed`.
pub fn allocate_table(sizes: &[u64], ratios: &[f64], seed: u64) -> Vec<Vec<u64>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    const EPS: f64 = 1e-9;
    let splits = ratios.len();
    // Floors, and which cells may take one more row.
    let mut table: Vec<Vec<u64>> = Vec::with_capacity(sizes.len());
    let mut open: Vec<Vec<bool>> = Vec::with_capacity(sizes.len());
    let mut fractions: Vec<Vec<f64>> = Vec::with_capacity(sizes.len());
    let mut leftover: Vec<u64> = Vec::with_capacity(sizes.len());
    let mut column_fraction = vec![0.0f64; splits];
    for &n in sizes {
        let exact: Vec<f64> = ratios.iter().map(|r| n as f64 * r).collect();
        // A share within EPS of a whole number is that number.
        let floors: Vec<u64> = exact.iter().map(|e| (e + EPS).floor() as u64).collect();
        let frac: Vec<f64> = exact
            .iter()
            .zip(&floors)
            .map(|(e, f)| (e - *f as f64).max(0.0))
            .collect();
        let cells: Vec<bool> = frac.iter().map(|&f| f > EPS).collect();
        let rest = n.saturating_sub(floors.iter().sum());
        for (c, f) in column_fraction.iter_mut().zip(&frac) {
            *c += f;
        }
        table.push(floors);
        open.push(cells);
        fractions.push(frac);
        leftover.push(rest);
    }
    let low: Vec<u64> = column_fraction
        .iter()
        .map(|c| (c + EPS).floor() as u64)
        .collect();
    let high: Vec<u64> = column_fraction
        .iter()
        .map(|c| (c - EPS).ceil().max(0.0) as u64)
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.shuffle(&mut rng);
    let mut split_order: Vec<usize> = (0..splits).collect();
    split_order.shuffle(&mut rng);
    // Each stratum tries its largest remainders first (ties in the seeded
    // order): what rounding each stratum alone would do, where the split
    // totals allow it.
    let prefs = fractions
        .iter()
        .map(|frac| {
            let mut p = split_order.clone();
            p.sort_by(|&a, &b| frac[b].total_cmp(&frac[a]));
            p
        })
        .collect();
    let mut flow = Flow {
        open,
        to_split: vec![0; splits],
        given: vec![0; sizes.len()],
        taken: table.iter().map(|_| vec![false; splits]).collect(),
        order,
        prefs,
    };
    // Every split up to its floor first, then up to its ceiling: a path to
    // the sink never takes rows away from a split, so the floors hold.
    for cap in [&low, &high] {
        while flow.augment(&leftover, cap) {}
    }
    for (k, row) in flow.taken.iter().enumerate() {
        for (s, &extra) in row.iter().enumerate() {
            table[k][s] += u64::from(extra);
        }
    }
    // Not reachable when the ratios add up to 1; kept so sizes always add up.
    for (k, &n) in sizes.iter().enumerate() {
        let mut short = n.saturating_sub(table[k].iter().sum());
        let mut s = 0;
        while short > 0 {
            table[k][s % splits] += 1;
            short -= 1;
            s += 1;
        }
    }
    table
}

/// The residual graph of [`allocate_table`]: strata → cells → splits.
struct Flow {
    open: Vec<Vec<bool>>,
    to_split: Vec<u64>,
    given: Vec<u64>,
    /// taken[k][s]: the cell's extra row is used.
    taken: Vec<Vec<bool>>,
    order: Vec<usize>,
    /// prefs[k]: the splits in the order stratum k tries them.
    prefs: Vec<Vec<usize>>,
}

impl Flow {
    /// One augmenting path (breadth first) from a stratum with rows left to
    /// a split below `cap`; false when there is none.
    fn augment(&mut self, leftover: &[u64], cap: &[u64]) -> bool {
        let (strata, splits) = (self.open.len(), cap.len());
        // Nodes: strata 0..K, splits K..K+S. prev[node] = the node before it.
        let mut prev: Vec<Option<usize>> = vec![None; strata + splits];
        let mut seen = vec![false; strata + splits];
        let mut queue = std::collections::VecDeque::new();
        for &k in &self.order {
            if self.given[k] < leftover[k] {
                seen[k] = true;
                queue.push_back(k);
            }
        }
        while let Some(node) = queue.pop_front() {
            if node < strata {
                for &s in &self.prefs[node] {
                    let next = strata + s;
                    if !seen[next] && self.open[node][s] && !self.taken[node][s] {
                        seen[next] = true;
                        prev[next] = Some(node);
                        if self.to_split[s] < cap[s] {
                            self.apply(&prev, next, strata);
                            return true;
                        }
                        queue.push_back(next);
                    }
                }
            } else {
                // Back along a used cell: that stratum gives its row elsewhere.
                let s = node - strata;
                for &k in &self.order {
                    if !seen[k] && self.taken[k][s] {
                        seen[k] = true;
                        prev[k] = Some(node);
                        queue.push_back(k);
                    }
                }
            }
        }
        false
    }

    fn apply(&mut self, prev: &[Option<usize>], end: usize, strata: usize) {
        self.to_split[end - strata] += 1;
        let mut node = end;
        while let Some(before) = prev[node] {
            if node >= strata {
                self.taken[before][node - strata] = true;
            } else {
                self.taken[node][before - strata] = false;
            }
            node = before;
        }
        self.given[node] += 1;
    }
}

/// Fills splits with units. A unit is a set of rows that must share a split
/// (a group, rows with the same text); `counts` says how many of its rows
/// fall in each stratum.
pub struct Filler {
    /// targets[stratum][split]
    targets: Vec<Vec<u64>>,
    filled: Vec<Vec<u64>>,
}

impl Filler {
    pub fn new(targets: Vec<Vec<u64>>) -> Self {
        let filled = targets.iter().map(|t| vec![0; t.len()]).collect();
        Filler { targets, filled }
    }

    /// Places a unit in the split where it moves the fill closest to the
    /// targets (the least added distance |filled - target| over its strata),
    /// ties going to the split with the most room left relative to its
    /// target, then to the earlier split. Returns the split.
    pub fn place(&mut self, counts: &[(usize, u64)]) -> usize {
        let splits = self.targets.first().map_or(0, Vec::len);
        let mut best = (i64::MAX, f64::NEG_INFINITY, 0usize);
        for s in 0..splits {
            let mut cost = 0i64;
            let mut room = 0.0;
            for &(k, c) in counts {
                let (f, t) = (self.filled[k][s] as i64, self.targets[k][s] as i64);
                cost += (f + c as i64 - t).abs() - (f - t).abs();
                room += (t - f) as f64 / (t.max(1) as f64);
            }
            if cost < best.0 || (cost == best.0 && room > best.1) {
                best = (cost, room, s);
            }
        }
        let s = best.2;
        for &(k, c) in counts {
            self.filled[k][s] += c;
        }
        s
    }

    pub fn filled(&self) -> &[Vec<u64>] {
        &self.filled
    }

    pub fn targets(&self) -> &[Vec<u64>] {
        &self.targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stratum_rounds_by_largest_remainder() {
        let one = |n: u64, ratios: &[f64]| allocate_table(&[n], ratios, 7).remove(0);
        assert_eq!(one(10, &[0.8, 0.1, 0.1]), [8, 1, 1]);
        assert_eq!(one(7, &[0.8, 0.1, 0.1]), [5, 1, 1]);
        assert_eq!(one(1, &[0.8, 0.1, 0.1]), [1, 0, 0]);
        assert_eq!(one(2, &[0.8, 0.1, 0.1]), [2, 0, 0]);
        assert_eq!(one(3, &[1.0 / 3.0; 3]), [1, 1, 1]);
        assert_eq!(one(0, &[0.5, 0.5]), [0, 0]);
        assert_eq!(one(5, &[0.5, 0.5]).iter().sum::<u64>(), 5);
    }

    /// Field case 07: strata of 5 at 0.8/0.1/0.1 used to give 32/8/0.
    #[test]
    fn no_split_is_left_empty_by_rounding() {
        for seed in 0..6 {
            let table = allocate_table(&[5; 8], &[0.8, 0.1, 0.1], seed);
            let totals: Vec<u64> = (0..3).map(|s| table.iter().map(|r| r[s]).sum()).collect();
            assert_eq!(totals, [32, 4, 4], "seed {seed}: {table:?}");
            assert!(table.iter().all(|r| r[0] == 4 && r[1] + r[2] == 1));
            let two = allocate_table(&[5; 8], &[0.9, 0.1], seed);
            let totals: Vec<u64> = (0..2).map(|s| two.iter().map(|r| r[s]).sum()).collect();
            assert_eq!(totals, [36, 4], "seed {seed}");
        }
        // Whole shares need no rounding.
        assert_eq!(
            allocate_table(&[10, 20], &[0.8, 0.1, 0.1], 1),
            [[8, 1, 1], [16, 2, 2]]
        );
    }

    #[test]
    fn singletons_fill_exactly() {
        let mut f = Filler::new(allocate_table(&[10], &[0.8, 0.1, 0.1], 0));
        let mut got = [0u64; 3];
        for _ in 0..10 {
            got[f.place(&[(0, 1)])] += 1;
        }
        assert_eq!(got, [8, 1, 1]);
    }
}
