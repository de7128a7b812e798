//! Hash mode: a row's split depends only on the seed and its key, so it
//! streams in constant memory, gives the same answer for any sharding of the
//! input, and keeps a row in its split as the dataset grows.
//!
//! The algorithm, fixed: h = XXH3-64(key's UTF-8 bytes, seed); u = (h >> 11)
//! / 2^53, a number in [0, 1); the row goes to the first split whose
//! cumulative ratio exceeds u (the last split if rounding leaves u above
//! them all). The key is `--key FIELD`'s value (strings as they are, other
//! values as JSON text), else the `--group-by` value, else the normalised
//! text (lowercased, white space folded, trimmed).

use refinery_core::parallel::Chunk;
use refinery_core::reader::too_long_reason;
use refinery_core::record::{lookup, parse_fields};
use refinery_core::text::normalize_text;
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use refinery_core::rejects::BadLine;

use crate::rows::{key_text, Fields, SplitFields, NO_STRATUM, SPLIT_FIELD};

/// The split for a key.
pub fn split_of(key: &str, seed: u64, cumulative: &[f64]) -> usize {
    let h = xxh3_64_with_seed(key.as_bytes(), seed);
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    cumulative
        .iter()
        .position(|&c| u < c)
        .unwrap_or(cumulative.len() - 1)
}

/// One chunk, split: the output lines end to end, each line's split and
/// end, per-row strata, bad lines.
pub struct HashPart {
    pub bytes: Vec<u8>,
    pub out: Vec<(usize, usize)>,
    pub strata: Vec<String>,
    pub bad: Vec<BadLine>,
    pub lines: u64,
}

pub struct HashSplitter<'a> {
    pub fields: &'a Fields,
    pub fields_out: &'a SplitFields,
    pub cumulative: &'a [f64],
    pub seed: u64,
    pub max_line_bytes: usize,
}

impl HashSplitter<'_> {
    fn key(&self, row: &refinery_core::Row) -> Result<String, String> {
        let present = |path: &[String]| lookup(row, path).filter(|v| !v.is_null()).map(key_text);
        if let Some(k) = &self.fields.key {
            return present(k).ok_or_else(|| format!("no `{}` to hash (--key)", k.join(".")));
        }
        if let Some(g) = self.fields.group.as_deref().and_then(present) {
            return Ok(g);
        }
        match row.get("text") {
            Some(Value::String(t)) => Ok(normalize_text(t)),
            _ => Err("no `text` to hash (give --key FIELD)".into()),
        }
    }

    pub fn chunk(&self, chunk: &Chunk) -> HashPart {
        let mut part = HashPart {
            bytes: Vec::new(),
            out: Vec::with_capacity(chunk.len()),
            strata: Vec::new(),
            bad: Vec::new(),
            lines: chunk.len() as u64,
        };
        for line in chunk.lines() {
            let result = match line.too_long {
                Some(len) => Err(too_long_reason(len, self.max_line_bytes)),
                None => parse_fields(line.bytes, &self.fields.projection).map_err(|e| e.0),
            };
            let row = match result.and_then(|row| self.key(&row).map(|k| (row, k))) {
                Ok(r) => r,
                Err(reason) => {
                    part.bad.push(BadLine {
                        location: line.location.clone(),
                        reason,
                        raw: line.bytes.to_vec(),
                    });
                    continue;
                }
            };
            let (row, key) = row;
            let split = split_of(&key, self.seed, self.cumulative);
            let has_split = row.contains_key(SPLIT_FIELD);
            self.fields_out
                .append(&mut part.bytes, line.bytes, has_split, split)
                .expect("the line parsed once already");
            let stratum = lookup(&row, &self.fields.by)
                .filter(|v| !v.is_null())
                .map_or_else(|| NO_STRATUM.to_string(), key_text);
            part.out.push((split, part.bytes.len()));
            part.strata.push(stratum);
        }
        part
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_algorithm() {
        let cum = [0.8, 0.9, 1.0];
        // Pinned values: changing the algorithm must break this test, since
        // users rely on a row keeping its split across runs and versions.
        let got: Vec<usize> = ["a", "b", "hello world", "", "row 42"]
            .iter()
            .map(|k| split_of(k, 0, &cum))
            .collect();
        let expected: Vec<usize> = ["a", "b", "hello world", "", "row 42"]
            .iter()
            .map(|k| {
                let u = (xxh3_64_with_seed(k.as_bytes(), 0) >> 11) as f64 / 9007199254740992.0;
                if u < 0.8 {
                    0
                } else if u < 0.9 {
                    1
                } else {
                    2
                }
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(xxh3_64_with_seed(b"a", 0), 0xE6C632B61E964E1F);
    }

    #[test]
    fn shares_approach_the_ratios() {
        let cum = [0.8, 0.9, 1.0];
        let mut counts = [0u32; 3];
        for i in 0..100_000 {
            counts[split_of(&format!("row {i}"), 7, &cum)] += 1;
        }
        assert!(
            (counts[0] as f64 / 100_000.0 - 0.8).abs() < 0.01,
            "{counts:?}"
        );
        assert!(
            (counts[2] as f64 / 100_000.0 - 0.1).abs() < 0.01,
            "{counts:?}"
        );
    }
}
