//! Sharing candidates out between raters, with an overlap every rater
//! labels (from which `stats --agreement` measures how far they agree).
//!
//! The candidates are put in a seeded order (a hash of each one's key: its
//! `id`, or its normalised text when it has none, with the seed). The first
//! round(SHARE × N) are the overlap, labelled by every rater and marked
//! `overlap: true`; the rest are dealt in turn, one rater after another, so
//! each has the same number give or take one. Every rater who runs `label`
//! on the same candidates file with the same seed and raters gets the same
//! split, on any machine, with no coordination between them.

use refinery_core::text::text_key;
use refinery_core::{Error, Location, Result, Row};
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Which candidates one rater labels.
#[derive(Clone, Debug)]
pub struct Assignment {
    raters: Vec<String>,
    me: usize,
    overlap: f64,
    seed: u64,
}

impl Assignment {
    /// `raters`: every rater of the sprint, in any order (sorted here, so
    /// each rater may list them differently); `me` must be one of them;
    /// `overlap` in [0, 1].
    pub fn new(raters: &[String], me: &str, overlap: f64, seed: u64) -> Result<Self> {
        if !(0.0..=1.0).contains(&overlap) {
            return Err(Error::usage(format!(
                "--overlap: SHARE must be between 0 and 1, got {overlap}"
            )));
        }
        let mut raters: Vec<String> = raters
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        raters.sort();
        raters.dedup();
        let me = raters.iter().position(|r| r == me).ok_or_else(|| {
            Error::usage(format!(
                "--raters: the rater {me:?} is not in the list ({})",
                raters.join(", ")
            ))
        })?;
        Ok(Assignment {
            raters,
            me,
            overlap,
            seed,
        })
    }

    /// Where each of `keys` goes: `Some(true)` the overlap, `Some(false)`
    /// this rater alone, `None` another rater.
    pub fn deal(&self, keys: &[String]) -> Vec<Option<bool>> {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&i| (xxh3_64_with_seed(keys[i].as_bytes(), self.seed), &keys[i]));
        let shared = (self.overlap * keys.len() as f64).round() as usize;
        let mut places = vec![None; keys.len()];
        for (rank, &i) in order.iter().enumerate() {
            places[i] = if rank < shared {
                Some(true)
            } else {
                ((rank - shared) % self.raters.len() == self.me).then_some(false)
            };
        }
        places
    }

    /// This rater's candidates, in their order, each marked `overlap` and
    /// `assigned_to` (the rater, so a sheet cannot be imported as another's).
    pub fn keep(&self, rows: Vec<(Location, Row)>) -> Vec<(Location, Row)> {
        let keys: Vec<String> = rows.iter().map(|(_, row)| candidate_key(row)).collect();
        rows.into_iter()
            .zip(self.deal(&keys))
            .filter_map(|((at, mut row), place)| {
                let shared = place?;
                row.insert("overlap".into(), Value::from(shared));
                row.insert(
                    "assigned_to".into(),
                    Value::from(self.raters[self.me].clone()),
                );
                Some((at, row))
            })
            .collect()
    }
}

/// The candidate's `id`, else a key of its normalised text.
pub fn candidate_key(row: &Row) -> String {
    match row.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            let text = row.get("text").and_then(Value::as_str).unwrap_or("");
            format!("text:{:032x}", text_key(text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raters() -> Vec<String> {
        ["ana", "ben", "cho"].map(String::from).to_vec()
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    #[test]
    fn the_overlap_is_the_share_asked_and_the_rest_is_dealt_evenly() {
        let keys = keys(40);
        let places: Vec<Vec<Option<bool>>> = raters()
            .iter()
            .map(|me| Assignment::new(&raters(), me, 0.25, 5).unwrap().deal(&keys))
            .collect();
        let mut alone = [0usize; 3];
        let mut shared = 0;
        for k in 0..keys.len() {
            let here: Vec<Option<bool>> = places.iter().map(|p| p[k]).collect();
            if here.iter().all(|p| *p == Some(true)) {
                shared += 1;
            } else {
                assert!(here.iter().all(|p| *p != Some(true)), "{k}");
                let owners: Vec<usize> = (0..3).filter(|&r| here[r] == Some(false)).collect();
                assert_eq!(owners.len(), 1, "{k}: {here:?}");
                alone[owners[0]] += 1;
            }
        }
        assert_eq!(shared, 10, "a quarter of 40");
        assert_eq!(alone, [10, 10, 10]);
    }

    #[test]
    fn a_seed_changes_the_split_but_not_its_sizes() {
        let keys = keys(30);
        let a = Assignment::new(&raters(), "ana", 0.2, 1)
            .unwrap()
            .deal(&keys);
        let b = Assignment::new(&raters(), "ana", 0.2, 2)
            .unwrap()
            .deal(&keys);
        assert_ne!(a, b);
        let count = |p: &[Option<bool>], v| p.iter().filter(|x| **x == v).count();
        assert_eq!((count(&a, Some(true)), count(&a, Some(false))), (6, 8));
        assert_eq!((count(&b, Some(true)), count(&b, Some(false))), (6, 8));
    }

    #[test]
    fn the_order_raters_are_listed_in_does_not_matter() {
        let mut reversed = raters();
        reversed.reverse();
        let a = Assignment::new(&raters(), "ben", 0.3, 1).unwrap();
        let b = Assignment::new(&reversed, "ben", 0.3, 1).unwrap();
        assert_eq!(a.deal(&keys(200)), b.deal(&keys(200)));
    }

    #[test]
    fn a_rater_not_listed_or_a_bad_share_is_a_usage_error() {
        assert!(Assignment::new(&raters(), "dee", 0.2, 0).is_err());
        assert!(Assignment::new(&raters(), "ana", 1.5, 0).is_err());
    }
}
