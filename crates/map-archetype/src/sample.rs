//! Balanced, seeded sampling per archetype, in memory bounded by the quotas.
//!
//! Each row gets a priority, XXH3-64 of its line's bytes with the seed; an
//! archetype keeps the `quota` rows of lowest priority (ties broken by the
//! bytes). That is a uniform random sample for a given seed, and the same
//! sample whatever order the rows come in. A row pushed out of a quota goes
//! to the overflow at once, so memory holds only the kept rows.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// A row held for output: its priority, input position and output bytes.
#[derive(Debug, Eq, PartialEq)]
pub struct Held {
    priority: u64,
    pub key: Vec<u8>,
    pub seq: u64,
    pub line: Vec<u8>,
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| self.key.cmp(&other.key))
    }
}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The kept rows of one archetype.
pub struct Quota {
    pub limit: u64,
    heap: BinaryHeap<Held>,
    pub matched: u64,
}

impl Quota {
    pub fn new(limit: u64) -> Self {
        Quota {
            limit,
            heap: BinaryHeap::new(),
            matched: 0,
        }
    }

    /// Offers a row (`key`: its input bytes, which decide its priority);
    /// returns the row that no longer fits, if any.
    pub fn offer(&mut self, seed: u64, key: &[u8], seq: u64, line: Vec<u8>) -> Option<Held> {
        self.matched += 1;
        let held = Held {
            priority: xxh3_64_with_seed(key, seed),
            key: key.to_vec(),
            seq,
            line,
        };
        if self.limit == 0 {
            return Some(held);
        }
        self.heap.push(held);
        if self.heap.len() as u64 > self.limit {
            self.heap.pop()
        } else {
            None
        }
    }

    pub fn into_rows(self) -> Vec<Held> {
        self.heap.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_same_rows_whatever_the_order() {
        let rows: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("{{\"i\":{i}}}").into_bytes())
            .collect();
        let kept = |order: &[usize]| {
            let mut q = Quota::new(20);
            for (seq, &i) in order.iter().enumerate() {
                q.offer(9, &rows[i], seq as u64, rows[i].clone());
            }
            let mut k: Vec<Vec<u8>> = q.into_rows().into_iter().map(|h| h.line).collect();
            k.sort();
            k
        };
        let forward: Vec<usize> = (0..200).collect();
        let backward: Vec<usize> = (0..200).rev().collect();
        assert_eq!(kept(&forward), kept(&backward));
        assert_eq!(kept(&forward).len(), 20);
    }
}
