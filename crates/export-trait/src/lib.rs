//! `export-trait`: the pairs that passed every stage of the refinement loop,
//! written in trait-interp's experiment layout for activation extraction.
//!
//! ```text
//! export-trait --definition definition.txt --out DIR first_tokens.jsonl > passed.jsonl
//! ```
//!
//! A pair passes when each of its rows passed every stage the rows carry:
//! `scenario_vet` and `response_vet` verdict `pass`, `coherence` verdict
//! `coherent`, and for positives the First Token Test's `first_tokens`
//! verdict `express`. The passing rows go
//! to stdout as they came; the rows of other pairs are counted as filtered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use refinery_core::experiment::{
    python_json, vetting_passed, vetting_summary, ResponseEntry, VettingResult,
};
use refinery_core::reader::too_long_reason;
use refinery_core::record::parse_row;
use refinery_core::trait_files::trait_name;
use refinery_core::writer::{write_file_atomically, JsonlWriter};
use refinery_core::{CommonArgs, Error, Result, Row, Tally, Tool};
use serde_json::Value;

const AFTER_HELP: &str = "\
Rows need `prompt` (one line of text), `polarity` (\"positive\" or \"negative\") and
`pair` (a whole number); `rollout`, `response`, `system_prompt` and the verdicts of
vet-score (`scenario_vet`, `response_vet`) and first-tokens (`first_tokens`) are
used when present. Give it the rows of the last step of the loop (make refine's
first_tokens.jsonl) so that every verdict is there.

A second row for the same pair, polarity and rollout is rejected. A pair passes
when both its scenarios and all their rollouts (the same rollouts on both sides)
passed every stage they carry: vetting verdict `pass` at each stage, `coherent` where vet-score
--coherence judged the response, and `express` for the positive's first tokens. A
pair missing one side does not pass.

--out DIR receives, for the passing pairs, renumbered 0, 1, … in pair order:
  positive.txt, negative.txt        one scenario a line (trait-interp's scenario files)
  responses/pos.json, neg.json      [{\"prompt\", \"response\", \"system_prompt\"}], rollout-major
  vetting/scenario_scores.json      the scenarios' vetting summary (rows with scenario_vet)
  vetting/response_scores.json      the responses' vetting summary (rows with response_vet)
written as Python's json.dump(indent=2) writes them. trait-interp's extraction drops
the positions listed in a summary's failed_indices; every position here passed, so
the summaries list none. --pos-threshold/--neg-threshold are recorded in them: give
the values vet-score used.";

/// Write the pairs that passed every stage in trait-interp's layout
#[derive(Parser, Debug)]
#[command(name = "export-trait", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// The directory to write trait-interp's files into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The trait's definition (recorded in the vetting summaries)
    #[arg(long, value_name = "FILE")]
    pub definition: PathBuf,

    /// The trait's name [default: the directory holding the definition]
    #[arg(long = "trait", value_name = "NAME")]
    pub trait_name: Option<String>,

    /// The positive threshold vet-score used (recorded in the summaries)
    #[arg(long, value_name = "SCORE", default_value_t = 60.0)]
    pub pos_threshold: f64,

    /// The negative threshold vet-score used (recorded in the summaries)
    #[arg(long, value_name = "SCORE", default_value_t = 40.0)]
    pub neg_threshold: f64,
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

/// One valid input row.
#[derive(Clone, Debug)]
pub struct PairRow {
    pub bytes: Vec<u8>,
    pub pair: u64,
    pub positive: bool,
    pub rollout: u64,
    pub row: Row,
}

impl PairRow {
    /// Whether the row passed every stage it carries.
    pub fn passed(&self) -> bool {
        let expressed = !self.positive
            || self
                .row
                .get("first_tokens")
                .is_none_or(|v| v["verdict"] == "express");
        vetting_passed(&self.row) && expressed
    }

    fn text(&self, field: &str) -> Option<String> {
        self.row
            .get(field)
            .and_then(Value::as_str)
            .map(String::from)
    }

    fn score(&self, field: &str) -> Option<f64> {
        self.row.get(field).and_then(|v| v["score"].as_f64())
    }
}

/// The checks a row must pass to be exported.
fn check_row(bytes: &[u8]) -> std::result::Result<PairRow, String> {
    let row = parse_row(bytes).map_err(|e| e.0)?;
    let prompt = match row.get("prompt") {
        Some(Value::String(p)) => p,
        _ => return Err("no `prompt` string".into()),
    };
    if prompt.contains(['\n', '\r']) {
        return Err("`prompt` has a line break: a scenario file holds one a line".into());
    }
    if prompt.trim().is_empty() || prompt.trim() != prompt {
        // trait-interp reads scenario files with line.strip(), skipping blank
        // lines: such a prompt would come back different, or misalign pairs.
        return Err(
            "`prompt` is empty or starts or ends with whitespace, which trait-interp strips".into(),
        );
    }
    let positive = match row.get("polarity").and_then(Value::as_str) {
        Some("positive") => true,
        Some("negative") => false,
        _ => return Err("`polarity` must be \"positive\" or \"negative\"".into()),
    };
    let pair = row
        .get("pair")
        .and_then(Value::as_u64)
        .ok_or("no `pair` (a whole number): pairs are what is exported")?;
    let rollout = match row.get("rollout") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().ok_or("`rollout` must be a whole number")?,
    };
    for field in ["response", "system_prompt"] {
        if !matches!(row.get(field), None | Some(Value::Null | Value::String(_))) {
            return Err(format!("`{field}` must be a string"));
        }
    }
    Ok(PairRow {
        bytes: bytes.to_vec(),
        pair,
        positive,
        rollout,
        row,
    })
}

/// The pairs whose every row passed, with both sides holding the same
/// rollouts (so entry i of pos.json and of neg.json stay one pair).
pub fn passing_pairs(rows: &[PairRow]) -> Vec<u64> {
    use std::collections::BTreeSet;
    let mut pairs: BTreeMap<u64, (BTreeSet<u64>, BTreeSet<u64>, bool)> = BTreeMap::new();
    for r in rows {
        let (pos, neg, ok) =
            pairs
                .entry(r.pair)
                .or_insert((BTreeSet::new(), BTreeSet::new(), true));
        if r.positive { pos } else { neg }.insert(r.rollout);
        *ok &= r.passed();
    }
    pairs
        .into_iter()
        .filter(|(_, (pos, neg, ok))| *ok && !pos.is_empty() && pos == neg)
        .map(|(pair, _)| pair)
        .collect()
}

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let definition =
        std::fs::read_to_string(&cli.definition).map_err(|e| Error::io(&cli.definition, e))?;
    let name = trait_name(
        cli.trait_name.as_deref(),
        &cli.definition,
        "--definition",
        tool,
    )?;
    let (mut reader, progress) = cli.common.reader(tool)?;
    let mut rejects = cli.common.rejects()?;
    let mut tally = Tally::default();
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while let Some(line) = reader.next_line()? {
        tally.read += 1;
        let checked = match line.too_long {
            Some(len) => Err(too_long_reason(len, cli.common.max_line_bytes)),
            None => check_row(line.bytes).and_then(|r| {
                if seen.insert((r.pair, r.positive, r.rollout)) {
                    Ok(r)
                } else {
                    Err(format!(
                        "a second row for pair {}'s {} scenario, rollout {}",
                        r.pair,
                        if r.positive { "positive" } else { "negative" },
                        r.rollout
                    ))
                }
            }),
        };
        match checked {
            Ok(row) => rows.push(row),
            Err(why) => rejects.reject(&line.location, &why, line.bytes)?,
        }
        progress.update_now(tally.read, reader.bytes_read());
    }
    progress.finish();
    let passing = passing_pairs(&rows);
    let number: BTreeMap<u64, u64> = passing.iter().zip(0..).map(|(&p, i)| (p, i)).collect();
    let kept: Vec<&PairRow> = rows
        .iter()
        .filter(|r| number.contains_key(&r.pair))
        .collect();
    let layout = Layout {
        kept: &kept,
        number: &number,
        name: &name,
        definition: definition.trim(),
        cli: &cli,
        carries: |field: &str| !rows.is_empty() && rows.iter().all(|r| r.row.contains_key(field)),
    };
    layout.write(&cli.out)?;
    let mut out = JsonlWriter::stdout();
    for r in &kept {
        out.write_raw_line(&r.bytes)?;
    }
    out.flush()?;
    tally.written = kept.len() as u64;
    tally.filtered = (rows.len() - kept.len()) as u64;
    tally.blank = reader.blank_lines();
    let pairs = rows
        .iter()
        .map(|r| r.pair)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    tool.note(&format!(
        "{} of {pairs} pairs passed every stage; wrote {}",
        passing.len(),
        cli.out.display()
    ));
    cli.common.finish(tool, tally, rejects)
}

/// The passing rows and what the files need to know about them.
struct Layout<'a, F: Fn(&str) -> bool> {
    kept: &'a [&'a PairRow],
    /// Old pair number → position in the exported files.
    number: &'a BTreeMap<u64, u64>,
    name: &'a str,
    definition: &'a str,
    cli: &'a Cli,
    /// Whether every input row carries a field: the files a stage's field
    /// gives are written (empty when nothing passed), and removed from an
    /// earlier export otherwise.
    carries: F,
}

impl<F: Fn(&str) -> bool> Layout<'_, F> {
    fn write(&self, dir: &Path) -> Result<()> {
        for sub in ["responses", "vetting"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
        let scenarios = self.scenarios();
        for (positive, file) in [(true, "positive.txt"), (false, "negative.txt")] {
            let text: String = scenarios
                .iter()
                .filter(|r| r.positive == positive)
                .map(|r| r.text("prompt").unwrap_or_default() + "\n")
                .collect();
            write_file_atomically(dir.join(file), &text)?;
        }
        let responses = self.responses();
        if !(self.carries)("response") {
            remove_stale(&dir.join("responses").join("pos.json"))?;
            remove_stale(&dir.join("responses").join("neg.json"))?;
        } else {
            for (positive, file) in [(true, "pos.json"), (false, "neg.json")] {
                let entries: Vec<ResponseEntry> = responses
                    .iter()
                    .filter(|r| r.positive == positive)
                    .map(|r| ResponseEntry {
                        prompt: r.text("prompt").unwrap_or_default(),
                        response: r.text("response").unwrap_or_default(),
                        system_prompt: r.text("system_prompt"),
                    })
                    .collect();
                write_json(&dir.join("responses").join(file), &entries)?;
            }
        }
        self.summary(dir, "scenario_vet", "scenario_scores.json", &scenarios)?;
        self.summary(dir, "response_vet", "response_scores.json", &responses)
    }

    /// One row per scenario (its first rollout): positives, then negatives,
    /// each in pair order.
    fn scenarios(&self) -> Vec<&PairRow> {
        let mut first: BTreeMap<(bool, u64), &PairRow> = BTreeMap::new();
        for r in self.kept {
            let slot = first
                .entry((!r.positive, self.number[&r.pair]))
                .or_insert(r);
            if r.rollout < slot.rollout {
                *slot = r;
            }
        }
        first.into_values().collect()
    }

    /// Every row, rollout-major, as trait-interp's responses files are.
    fn responses(&self) -> Vec<&PairRow> {
        let mut rows: Vec<&PairRow> = self.kept.to_vec();
        rows.sort_by_key(|r| (!r.positive, r.rollout, self.number[&r.pair]));
        rows
    }

    /// A vetting summary of `field` over `rows`, when they all carry it; an
    /// idx is the row's position among its polarity's rows.
    fn summary(&self, dir: &Path, field: &str, file: &str, rows: &[&PairRow]) -> Result<()> {
        if !(self.carries)(field) {
            return remove_stale(&dir.join("vetting").join(file));
        }
        let mut next = [0u64; 2];
        let results: Vec<VettingResult> = rows
            .iter()
            .map(|r| {
                let slot = &mut next[usize::from(!r.positive)];
                *slot += 1;
                VettingResult {
                    idx: *slot - 1,
                    scenario: (field == "scenario_vet")
                        .then(|| r.text("prompt").unwrap_or_default()),
                    positive: r.positive,
                    score: r.score(field),
                    passed: true,
                }
            })
            .collect();
        let summary = vetting_summary(
            self.name,
            self.definition,
            self.cli.pos_threshold,
            self.cli.neg_threshold,
            &results,
        );
        write_json(&dir.join("vetting").join(file), &summary)
    }
}

/// Removes a file an earlier export wrote that this one does not.
fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = String::from_utf8(python_json(value)).expect("escaped JSON is ASCII");
    write_file_atomically(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> PairRow {
        check_row(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_pair_passes_when_every_row_passes_every_stage_it_carries() {
        let rows = [
            row(
                r#"{"prompt":"a","polarity":"positive","pair":0,"scenario_vet":{"verdict":"pass"},"first_tokens":{"verdict":"express"}}"#,
            ),
            row(
                r#"{"prompt":"b","polarity":"negative","pair":0,"scenario_vet":{"verdict":"pass"},"first_tokens":{"verdict":"committed"}}"#,
            ),
            row(
                r#"{"prompt":"c","polarity":"positive","pair":1,"first_tokens":{"verdict":"committed"}}"#,
            ),
            row(r#"{"prompt":"d","polarity":"negative","pair":1}"#),
            row(
                r#"{"prompt":"e","polarity":"positive","pair":2,"response_vet":{"verdict":"ambiguous"}}"#,
            ),
            row(r#"{"prompt":"f","polarity":"negative","pair":2}"#),
            row(r#"{"prompt":"g","polarity":"positive","pair":3}"#),
        ];
        // A negative's first tokens are not its test; a lone side is no pair.
        assert_eq!(passing_pairs(&rows), [0]);
    }

    #[test]
    fn rows_that_cannot_be_exported_say_why() {
        let why = |t: &str| check_row(t.as_bytes()).unwrap_err();
        assert!(why(r#"{"prompt":"a\nb","polarity":"positive","pair":0}"#).contains("line break"));
        assert!(why(r#"{"prompt":"a","polarity":"positive"}"#).contains("no `pair`"));
        assert!(why(r#"{"prompt":"a","polarity":"up","pair":0}"#).contains("polarity"));
        assert!(
            why(r#"{"prompt":"a","polarity":"positive","pair":0,"rollout":-1}"#)
                .contains("rollout")
        );
        assert!(
            why(r#"{"prompt":"a","polarity":"positive","pair":0,"response":3}"#)
                .contains("response")
        );
    }
}
