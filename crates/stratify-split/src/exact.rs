//! Exact mode: hold the rows, join rows that must share a split into units
//! (same group, same normalised text), shuffle the units with a seeded
//! ChaCha8 stream, and place them largest first so every stratum's splits
//! meet their quotas (a controlled rounding: strata and split totals both
//! within one row of exact) as closely as the units allow.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;

use crate::quotas::{allocate_table, Filler};
use crate::rows::{Meta, ReadPart};

/// Normalised texts found in more than one split.
pub fn leaked_texts(text: &[u128], splits: &[u8]) -> u64 {
    let mut first: FxHashMap<u128, u8> = FxHashMap::default();
    let mut leaked: FxHashMap<u128, ()> = FxHashMap::default();
    for (&t, &s) in text.iter().zip(splits) {
        if t == 0 {
            continue;
        }
        match first.get(&t) {
            Some(&f) if f != s => {
                leaked.insert(t, ());
            }
            Some(_) => {}
            None => {
                first.insert(t, s);
            }
        }
    }
    leaked.len() as u64
}

/// The rows, compactly: what each says (their bytes are read again when
/// they are written).
/// where its bytes are and what it says.
#[derive(Default)]
pub struct Store {
    pub stratum: Vec<u32>,
    pub has_split: Vec<bool>,
    /// the normalised text's key per row (0: no text), for the leakage check
    pub text: Vec<u128>,
    pub strata: Vec<String>,
    strata_index: FxHashMap<String, u32>,
    parent: Vec<u32>,
    first_of_group: FxHashMap<String, u32>,
    first_of_text: FxHashMap<u128, u32>,
    pub groups: u64,
    /// rows whose normalised text an earlier row already had
    pub duplicate_texts: u64,
}

impl Store {
    pub fn len(&self) -> usize {
        self.stratum.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stratum.is_empty()
    }

    pub fn add(&mut self, part: ReadPart) {
        // The chunk's strata, mapped once to the store's.
        let global: Vec<u32> = part
            .strata
            .names
            .iter()
            .map(|name| self.stratum_id(name))
            .collect();
        for meta in part.metas {
            let stratum = global[meta.stratum as usize];
            self.add_meta(meta, stratum);
        }
    }

    fn stratum_id(&mut self, name: &str) -> u32 {
        if let Some(&s) = self.strata_index.get(name) {
            return s;
        }
        let s = self.strata.len() as u32;
        self.strata.push(name.to_string());
        self.strata_index.insert(name.to_string(), s);
        s
    }

    fn add_meta(&mut self, meta: Meta, stratum: u32) {
        let row = self.parent.len() as u32;
        self.parent.push(row);
        self.stratum.push(stratum);
        self.has_split.push(meta.has_split);
        self.text.push(meta.text.unwrap_or(0));
        if let Some(g) = meta.group {
            match self.first_of_group.get(&g) {
                Some(&first) => self.union(first, row),
                None => {
                    self.groups += 1;
                    self.first_of_group.insert(g, row);
                }
            }
        }
        if let Some(t) = meta.text {
            match self.first_of_text.get(&t) {
                Some(&first) => {
                    self.duplicate_texts += 1;
                    self.union(first, row);
                }
                None => {
                    self.first_of_text.insert(t, row);
                }
            }
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        // The earlier row stays the root, so a unit is named by its first row.
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.parent[hi as usize] = lo;
        }
    }

    /// Frees what only reading needed.
    pub fn done_reading(&mut self) {
        self.first_of_group = FxHashMap::default();
        self.first_of_text = FxHashMap::default();
        self.strata_index = FxHashMap::default();
    }

    /// The split of every row.
    pub fn assign(&mut self, ratios: &[f64], seed: u64) -> (Vec<u8>, Filler) {
        let n = self.len();
        let roots: Vec<u32> = (0..n as u32).map(|r| self.find(r)).collect();
        // Units as runs of rows sorted by root (counting sort keeps input order).
        let mut size = vec![0u32; n];
        for &r in &roots {
            size[r as usize] += 1;
        }
        let mut start = vec![0u32; n + 1];
        for i in 0..n {
            start[i + 1] = start[i] + size[i];
        }
        let mut members = vec![0u32; n];
        let mut next = start.clone();
        for (row, &r) in roots.iter().enumerate() {
            members[next[r as usize] as usize] = row as u32;
            next[r as usize] += 1;
        }
        let mut units: Vec<u32> = (0..n as u32).filter(|&r| size[r as usize] > 0).collect();
        units.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        // Largest units first, so big groups are placed while there is room;
        // the sort is stable, so equal sizes keep the shuffled order. Single
        // rows, nearly all of them, need no sorting: they go last as shuffled.
        let (mut big, single): (Vec<u32>, Vec<u32>) =
            units.into_iter().partition(|&u| size[u as usize] > 1);
        big.sort_by_key(|&u| std::cmp::Reverse(size[u as usize]));

        let mut strata_sizes = vec![0u64; self.strata.len()];
        for &s in &self.stratum {
            strata_sizes[s as usize] += 1;
        }
        let targets = allocate_table(&strata_sizes, ratios, seed);
        let mut filler = Filler::new(targets);
        let mut unit_split = vec![0u8; n];
        let mut counts: Vec<(usize, u64)> = Vec::new();
        for &u in &big {
            counts.clear();
            for &row in &members[start[u as usize] as usize..start[u as usize + 1] as usize] {
                let s = self.stratum[row as usize] as usize;
                match counts.iter_mut().find(|(k, _)| *k == s) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((s, 1)),
                }
            }
            unit_split[u as usize] = filler.place(&counts) as u8;
        }
        for &u in &single {
            let stratum = self.stratum[u as usize] as usize;
            unit_split[u as usize] = filler.place(&[(stratum, 1)]) as u8;
        }
        let splits = roots.iter().map(|&r| unit_split[r as usize]).collect();
        (splits, filler)
    }
}
