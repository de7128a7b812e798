//! Sharing candidates out between raters, with an overlap every rater
//! labels (from which `stats --agreement` measures how far they agree).
//!
//! Each candidate gets a number u in [0, 1) from a seeded hash of its key
//! (`id`, or its normalised text when it has none). u < SHARE: the overlap,
//! labelled by every rater and marked `overlap: true`; otherwise it goes to
//! one rater, by where u falls in the rest of the range. The same seed, raters
//! and candidates give every rater the same split, on any machine, with no
//! coordination between them.

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

    /// Where a candidate goes: `Some(true)` the overlap, `Some(false)` this
    /// rater alone, `None` another rater.
    pub fn place(&self, key: &str) -> Option<bool> {
        let u = (xxh3_64_with_seed(key.as_bytes(), self.seed) >> 11) as f64 / (1u64 << 53) as f64;
        if u < self.overlap {
            return Some(true);
        }
        let rest = (u - self.overlap) / (1.0 - self.overlap);
        let owner = ((rest * self.raters.len() as f64) as usize).min(self.raters.len() - 1);
        (owner == self.me).then_some(false)
    }

    /// This rater's candidates, in their order, each marked `overlap`.
    pub fn keep(&self, rows: Vec<(Location, Row)>) -> Vec<(Location, Row)> {
        rows.into_iter()
            .filter_map(|(at, mut row)| {
                let shared = self.place(&candidate_key(&row))?;
                row.insert("overlap".into(), Value::from(shared));
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

    #[test]
    fn every_candidate_goes_to_the_overlap_or_to_exactly_one_rater() {
        let all: Vec<Assignment> = raters()
            .iter()
            .map(|me| Assignment::new(&raters(), me, 0.2, 7).unwrap())
            .collect();
        let (mut shared, mut alone) = (0, 0);
        for i in 0..3000 {
            let key = format!("m{i}");
            let places: Vec<Option<bool>> = all.iter().map(|a| a.place(&key)).collect();
            if places.iter().all(|p| *p == Some(true)) {
                shared += 1;
            } else {
                assert_eq!(
                    places.iter().filter(|p| **p == Some(false)).count(),
                    1,
                    "{key}"
                );
                assert!(places.iter().all(|p| *p != Some(true)), "{key}");
                alone += 1;
            }
        }
        // about a fifth shared, the rest split three ways
        assert!((500..700).contains(&shared), "{shared}");
        assert_eq!(shared + alone, 3000);
    }

    #[test]
    fn the_order_raters_are_listed_in_does_not_matter() {
        let mut reversed = raters();
        reversed.reverse();
        let a = Assignment::new(&raters(), "ben", 0.3, 1).unwrap();
        let b = Assignment::new(&reversed, "ben", 0.3, 1).unwrap();
        for i in 0..200 {
            let key = format!("m{i}");
            assert_eq!(a.place(&key), b.place(&key));
        }
    }

    #[test]
    fn a_rater_not_listed_or_a_bad_share_is_a_usage_error() {
        assert!(Assignment::new(&raters(), "dee", 0.2, 0).is_err());
        assert!(Assignment::new(&raters(), "ana", 1.5, 0).is_err());
    }
}
