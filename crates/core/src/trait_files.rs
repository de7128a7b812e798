//! trait-interp's scenario files: `positive.txt` / `negative.txt`, one
//! scenario per line, blank lines skipped, paired by their order. Tools that
//! take `--positive FILE --negative FILE` turn them into rows with `prompt`,
//! `polarity`, `pair` and `trait`.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::reader::LineReader;
use crate::{Error, Location, Result, Tool};

/// One scenario as a row: where it came from and its JSON text.
#[derive(Debug)]
pub struct ScenarioLine {
    /// Where the scenario came from.
    pub location: Location,
    /// The row as JSON text.
    pub bytes: Vec<u8>,
    /// Set when the line was longer than --max-line-bytes (its full length).
    pub too_long: Option<usize>,
}

/// The non-blank lines of a scenario file with their line numbers (a BOM
/// and `\r` line ends dropped). Errors: an unreadable file, or text that is
/// not UTF-8 (with the line).
pub fn scenario_lines(path: &Path) -> Result<Vec<(u64, String)>> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(text).map_err(|e| {
        let line = text_line_of(e.as_bytes(), e.utf8_error().valid_up_to());
        Error::data(Location::in_file(path, line), "not valid UTF-8")
    })?;
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| (n, l.strip_prefix('\u{feff}').unwrap_or(l).to_string()))
        .collect())
}

fn text_line_of(bytes: &[u8], offset: usize) -> u64 {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// The trait's name: `--trait`, else the name of the directory holding
/// `file` (trait-interp keeps each trait in a directory named for it; `flag`
/// is the option that named the file). A name taken from a directory is
/// said on stderr, since that directory may be any scratch folder.
pub fn trait_name(given: Option<&str>, file: &Path, flag: &str, tool: &Tool) -> Result<String> {
    if let Some(name) = given {
        return Ok(name.to_string());
    }
    let name = file
        .canonicalize()
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .ok_or_else(|| {
            Error::usage(format!(
                "cannot tell the trait's name from the path of {flag}; give --trait NAME"
            ))
        })?;
    tool.note(&format!(
        "trait \"{name}\", the name of the directory holding {flag} {} (--trait NAME to name it)",
        file.display()
    ));
    Ok(name)
}

/// A line of a scenario file and its line number.
pub type Numbered = (u64, String);

/// The non-blank lines of a positive and a negative scenario file, with
/// their line numbers. Errors as [`scenario_lines`], and when the counts
/// differ (pairs are matched by order).
pub fn paired_lines(positive: &Path, negative: &Path) -> Result<(Vec<Numbered>, Vec<Numbered>)> {
    let pos = scenario_lines(positive)?;
    let neg = scenario_lines(negative)?;
    if pos.len() != neg.len() {
        return Err(Error::usage(format!(
            "{} has {} scenarios and {} has {}: pairs are matched by order, so the counts must agree",
            positive.display(),
            pos.len(),
            negative.display(),
            neg.len()
        )));
    }
    Ok((pos, neg))
}

/// Rows for a positive/negative pair of files: pair i is the i-th scenario
/// of each file, positive first.
pub fn pair_rows(
    positive: &PathBuf,
    negative: &PathBuf,
    trait_name: &str,
) -> Result<Vec<ScenarioLine>> {
    let (pos, neg) = paired_lines(positive, negative)?;
    let mut rows = Vec::with_capacity(2 * pos.len());
    for (pair, (p, n)) in pos.into_iter().zip(neg).enumerate() {
        for ((line, prompt), polarity, path) in
            [(p, "positive", positive), (n, "negative", negative)]
        {
            let row =
                json!({"prompt": prompt, "polarity": polarity, "pair": pair, "trait": trait_name});
            rows.push(ScenarioLine {
                location: Location::in_file(path, line),
                bytes: serde_json::to_vec(&row).expect("a row serialises"),
                too_long: None,
            });
        }
    }
    Ok(rows)
}

/// `--positive FILE --negative FILE`: trait-interp's scenario files, read
/// instead of JSON Lines (the tool's FILE arguments or stdin).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ScenarioArgs {
    /// Read trait-interp's positive scenarios (one per line), with --negative
    #[arg(
        long,
        value_name = "FILE",
        requires = "negative",
        conflicts_with = "files"
    )]
    pub positive: Option<PathBuf>,

    /// trait-interp's negative scenarios, paired with --positive by order
    #[arg(long, value_name = "FILE", requires = "positive")]
    pub negative: Option<PathBuf>,
}

impl ScenarioArgs {
    /// The two files, when given.
    pub fn files(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.positive.as_ref().zip(self.negative.as_ref())
    }

    /// The rows to process: the pairs as rows (`trait` named by
    /// `trait_name` of the positive file, asked only when the files are
    /// given), else the JSON Lines of `common`'s inputs.
    pub fn open(
        &self,
        common: &crate::CommonArgs,
        tool: &Tool,
        trait_name: impl FnOnce(&Path) -> Result<String>,
    ) -> Result<ScenarioSource> {
        Ok(match self.files() {
            Some((pos, neg)) => {
                ScenarioSource::Pairs(pair_rows(pos, neg, &trait_name(pos)?)?.into_iter())
            }
            None => ScenarioSource::Jsonl(common.line_reader(tool)?),
        })
    }
}

/// Rows to process: JSON Lines, or rows made from trait-interp's files
/// (scenario files, responses files).
pub enum ScenarioSource {
    /// rows read from JSON Lines
    Jsonl(LineReader),
    /// rows made from trait-interp's files
    Pairs(std::vec::IntoIter<ScenarioLine>),
}

impl ScenarioSource {
    /// The next row, or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<ScenarioLine>> {
        match self {
            ScenarioSource::Jsonl(reader) => Ok(reader.next_line()?.map(|line| ScenarioLine {
                location: line.location,
                bytes: line.bytes.to_vec(),
                too_long: line.too_long,
            })),
            ScenarioSource::Pairs(rows) => Ok(rows.next()),
        }
    }

    /// Bytes read so far, for a progress bar (0 for rows made in memory).
    pub fn bytes_read(&self) -> u64 {
        match self {
            ScenarioSource::Jsonl(reader) => reader.bytes_read(),
            ScenarioSource::Pairs(_) => 0,
        }
    }

    /// Blank lines skipped so far.
    pub fn blank_lines(&self) -> u64 {
        match self {
            ScenarioSource::Jsonl(reader) => reader.blank_lines(),
            ScenarioSource::Pairs(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_by_order_skipping_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let pos = dir.path().join("positive.txt");
        let neg = dir.path().join("negative.txt");
        std::fs::write(&pos, "He asked me, so I\n\nShe smiled and\n").unwrap();
        std::fs::write(&neg, "\u{feff}They left, so I\r\nWe waited and\r\n").unwrap();
        let rows = pair_rows(&pos, &neg, "t").unwrap();
        let text: Vec<String> = rows
            .iter()
            .map(|r| String::from_utf8(r.bytes.clone()).unwrap())
            .collect();
        assert_eq!(
            text[0],
            r#"{"prompt":"He asked me, so I","polarity":"positive","pair":0,"trait":"t"}"#
        );
        assert_eq!(
            text[1],
            r#"{"prompt":"They left, so I","polarity":"negative","pair":0,"trait":"t"}"#
        );
        assert_eq!(
            text[2],
            r#"{"prompt":"She smiled and","polarity":"positive","pair":1,"trait":"t"}"#
        );
        assert_eq!(rows[2].location.line, 3);
        assert_eq!(rows[3].location.line, 2);
    }

    #[test]
    fn unequal_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pos = dir.path().join("positive.txt");
        let neg = dir.path().join("negative.txt");
        std::fs::write(&pos, "a\nb\n").unwrap();
        std::fs::write(&neg, "a\n").unwrap();
        let err = pair_rows(&pos, &neg, "t").err().unwrap().to_string();
        assert!(
            err.contains("has 2 scenarios") && err.contains("has 1"),
            "{err}"
        );
    }

    #[test]
    fn the_trait_is_named_after_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let trait_dir = dir.path().join("sycophancy");
        std::fs::create_dir(&trait_dir).unwrap();
        let pos = trait_dir.join("positive.txt");
        std::fs::write(&pos, "a\n").unwrap();
        let tool = crate::Tool::new("test");
        assert_eq!(
            trait_name(None, &pos, "--positive", &tool).unwrap(),
            "sycophancy"
        );
        assert_eq!(
            trait_name(Some("x"), &pos, "--positive", &tool).unwrap(),
            "x"
        );
    }
}
