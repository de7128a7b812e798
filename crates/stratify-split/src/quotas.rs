//! Split sizes and the assignment of rows (or indivisible units of rows) to
//! splits so that every stratum's splits come as close to their quotas as
//! the units allow.

/// Per-split sizes for `n` rows: each split gets the floor of its exact
/// share `n * ratio`, and the rows left over go one each to the splits with
/// the largest fractional parts (earlier splits first on ties). So every
/// split is within one row of its exact share and the sizes add up to `n`.
/// A stratum smaller than the number of splits lands in the splits with the
/// largest ratios: a single row goes to the first split of largest ratio.
pub fn allocate_quotas(n: u64, ratios: &[f64]) -> Vec<u64> {
    let exact: Vec<f64> = ratios.iter().map(|r| n as f64 * r).collect();
    let mut sizes: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let assigned: u64 = sizes.iter().sum();
    let mut order: Vec<usize> = (0..ratios.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    for &i in order.iter().take(n.saturating_sub(assigned) as usize) {
        sizes[i] += 1;
    }
    sizes
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
    fn largest_remainder() {
        assert_eq!(allocate_quotas(10, &[0.8, 0.1, 0.1]), [8, 1, 1]);
        assert_eq!(allocate_quotas(7, &[0.8, 0.1, 0.1]), [5, 1, 1]);
        assert_eq!(allocate_quotas(1, &[0.8, 0.1, 0.1]), [1, 0, 0]);
        assert_eq!(allocate_quotas(2, &[0.8, 0.1, 0.1]), [2, 0, 0]);
        assert_eq!(allocate_quotas(3, &[1.0 / 3.0; 3]), [1, 1, 1]);
        assert_eq!(allocate_quotas(0, &[0.5, 0.5]), [0, 0]);
        assert_eq!(allocate_quotas(5, &[0.5, 0.5]), [3, 2]);
    }

    #[test]
    fn singletons_fill_exactly() {
        let mut f = Filler::new(vec![allocate_quotas(10, &[0.8, 0.1, 0.1])]);
        let mut got = [0u64; 3];
        for _ in 0..10 {
            got[f.place(&[(0, 1)])] += 1;
        }
        assert_eq!(got, [8, 1, 1]);
    }
}
