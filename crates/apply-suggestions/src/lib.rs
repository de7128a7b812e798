//! `apply-suggestions`: new scenario files with the fix suggestions a user
//! accepted, pairs kept aligned.
//!
//! ```text
//! apply-suggestions --positive positive.txt --negative negative.txt --out DIR suggestions.jsonl
//! ```
//!
//! `first-tokens --suggest` writes one suggestion a line; a user keeps the
//! ones they want (`"accept": true`, the default for a checked cut that
//! passes) and this tool replaces those scenarios, in place in their pair,
//! writing `DIR/positive.txt` and `DIR/negative.txt`. The applied
//! suggestions go to stdout; the others are counted as filtered.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Parser;
use refinery_core::reader::too_long_reason;
use refinery_core::record::parse_row;
use refinery_core::trait_files::paired_lines;
use refinery_core::writer::{write_file_atomically, JsonlWriter};
use refinery_core::{CommonArgs, Error, Result, Tally, Tool};
use serde_json::Value;

const AFTER_HELP: &str = "\
A suggestion row (first-tokens --suggest) needs `pair` (the scenario's place in the
files, counting from 0 and skipping blank lines), `polarity`, `before` (the scenario
as it is now), `after` (what to write instead) and `accept`. Only rows with
\"accept\": true are applied: edit the file first (set it to false, or delete the
line, for a suggestion you do not want). A suggestion whose `before` is not the
scenario now in the files (the files changed since) is rejected, as is a second one
for the same scenario. Every other scenario is written as it was, so pair i is still
line i of both files. --out may be the directory the files came from.";

/// Write new scenario files with the accepted fix suggestions
#[derive(Parser, Debug)]
#[command(name = "apply-suggestions", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// The trait's positive scenarios (trait-interp's positive.txt)
    #[arg(long, value_name = "FILE")]
    pub positive: PathBuf,

    /// The trait's negative scenarios, paired with --positive by order
    #[arg(long, value_name = "FILE")]
    pub negative: PathBuf,

    /// Where to write positive.txt and negative.txt
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

/// The scenarios of one file, by pair.
pub struct Side {
    pub scenarios: Vec<String>,
    changed: BTreeSet<usize>,
}

/// Applies one suggestion row to the two sides, or says why not; `Ok(false)`
/// when the user did not accept it.
pub fn apply(sides: &mut [Side; 2], row: &Value) -> std::result::Result<bool, String> {
    if row.get("accept") != Some(&Value::Bool(true)) {
        return Ok(false);
    }
    let side = match row.get("polarity").and_then(Value::as_str) {
        Some("positive") => 0,
        Some("negative") => 1,
        _ => return Err("`polarity` must be \"positive\" or \"negative\"".into()),
    };
    let name = ["positive", "negative"][side];
    let pair = row
        .get("pair")
        .and_then(Value::as_u64)
        .ok_or("no `pair` (a whole number)")? as usize;
    let text = |field: &str| row.get(field).and_then(Value::as_str);
    let before = text("before").ok_or("no `before` (the scenario as it is now)")?;
    let after = text("after")
        .filter(|a| !a.trim().is_empty())
        .ok_or("no `after` to write: this suggestion is a flag, not an edit")?;
    if after.contains(['\n', '\r']) {
        return Err("`after` has a line break: a scenario file holds one a line".into());
    }
    let target = &mut sides[side];
    let current = target.scenarios.get(pair).ok_or_else(|| {
        format!(
            "pair {pair} is past the {} scenarios",
            target.scenarios.len()
        )
    })?;
    if current != before {
        return Err(format!(
            "pair {pair}'s {name} scenario is no longer the suggestion's `before` (the files changed since)"
        ));
    }
    if !target.changed.insert(pair) {
        return Err(format!(
            "a second accepted suggestion for pair {pair}'s {name} scenario"
        ));
    }
    target.scenarios[pair] = after.to_string();
    Ok(true)
}

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let (pos, neg) = paired_lines(&cli.positive, &cli.negative)?;
    let side = |lines: Vec<(u64, String)>| Side {
        scenarios: lines.into_iter().map(|(_, s)| s).collect(),
        changed: BTreeSet::new(),
    };
    let mut sides = [side(pos), side(neg)];
    let (mut reader, progress) = cli.common.reader(tool)?;
    let mut rejects = cli.common.rejects()?;
    let mut out = JsonlWriter::stdout();
    let mut tally = Tally::default();
    while let Some(line) = reader.next_line()? {
        tally.read += 1;
        let applied = match line.too_long {
            Some(len) => Err(too_long_reason(len, cli.common.max_line_bytes)),
            None => parse_row(line.bytes)
                .map_err(|e| e.0)
                .and_then(|row| apply(&mut sides, &Value::Object(row))),
        };
        match applied {
            Ok(true) => {
                out.write_raw_line(line.bytes)?;
                tally.written += 1;
            }
            Ok(false) => tally.filtered += 1,
            Err(why) => rejects.reject(&line.location, &why, line.bytes)?,
        }
        progress.update_now(tally.read, reader.bytes_read());
    }
    progress.finish();
    out.flush()?;
    std::fs::create_dir_all(&cli.out).map_err(|e| Error::io(&cli.out, e))?;
    for (side, file) in sides.iter().zip(["positive.txt", "negative.txt"]) {
        let text: String = side.scenarios.iter().map(|s| format!("{s}\n")).collect();
        write_file_atomically(cli.out.join(file), &text)?;
    }
    tally.blank = reader.blank_lines();
    tool.note(&format!(
        "{} scenarios changed ({} positive, {} negative) in {}",
        sides[0].changed.len() + sides[1].changed.len(),
        sides[0].changed.len(),
        sides[1].changed.len(),
        cli.out.display()
    ));
    cli.common.finish(tool, tally, rejects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sides() -> [Side; 2] {
        let side = |v: &[&str]| Side {
            scenarios: v.iter().map(|s| s.to_string()).collect(),
            changed: BTreeSet::new(),
        };
        [
            side(&["p0 so I", "p1 and then"]),
            side(&["n0 so I", "n1 and"]),
        ]
    }

    #[test]
    fn an_accepted_cut_replaces_its_scenario_in_place() {
        let mut s = sides();
        let row = json!({"pair": 1, "polarity": "positive", "before": "p1 and then", "after": "p1 and", "accept": true});
        assert_eq!(apply(&mut s, &row), Ok(true));
        assert_eq!(s[0].scenarios, ["p0 so I", "p1 and"]);
        assert_eq!(s[1].scenarios, ["n0 so I", "n1 and"]);
        // Applying it again: the scenario is no longer the `before`.
        assert!(apply(&mut s, &row).unwrap_err().contains("no longer"));
    }

    #[test]
    fn what_is_not_applied_and_why() {
        let mut s = sides();
        let flag = json!({"pair": 0, "polarity": "positive", "before": "p0 so I", "after": null, "accept": false});
        assert_eq!(apply(&mut s, &flag), Ok(false));
        let accepted_flag = json!({"pair": 0, "polarity": "positive", "before": "p0 so I", "after": null, "accept": true});
        assert!(apply(&mut s, &accepted_flag).unwrap_err().contains("flag"));
        let past =
            json!({"pair": 5, "polarity": "negative", "before": "x", "after": "y", "accept": true});
        assert!(apply(&mut s, &past).unwrap_err().contains("past the 2"));
        let twice = json!({"pair": 0, "polarity": "negative", "before": "n0 so I", "after": "n0 so I", "accept": true});
        assert_eq!(apply(&mut s, &twice), Ok(true));
        assert!(apply(&mut s, &twice).unwrap_err().contains("second"));
        let newline = json!({"pair": 1, "polarity": "negative", "before": "n1 and", "after": "a\nb", "accept": true});
        assert!(apply(&mut s, &newline).unwrap_err().contains("line break"));
    }
}
