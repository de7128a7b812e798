//! `probe-candidates`: `generate`'s replies to probe prompts, as candidate
//! rows for labelling.
//!
//! ```text
//! expand-probes DIR | generate --temperature 0.9 --rollouts 3 --seed 1 | probe-candidates > candidates.jsonl
//! ```
//!
//! Each reply is cleaned to the user's words (see [`crate::utterance`]) and
//! becomes `{text, context: [text], source: "synthetic_probe", archetype,
//! tags: [archetype], file (the probe), probe_id, slots, rollout, model,
//! prompt}`. Refusals, empty replies, texts shorter than --min-chars and
//! duplicates (the normal form `validate` uses) are filtered and counted;
//! rows without `response`, `archetype` or `probe` are bad input.

use std::collections::HashSet;

use clap::Parser;
use serde_json::{Map, Value};

use refinery_core::text::text_key;
use refinery_core::writer::JsonlWriter;
use refinery_core::{CommonArgs, Result, Row, Tally, Tool};

use crate::utterance::{utterance, Utterance};

/// Turn generated probe replies into candidate rows
#[derive(Parser, Debug)]
#[command(name = "probe-candidates", version)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Shortest text kept, in characters
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub min_chars: usize,
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

/// Why replies were left out, for the summary.
#[derive(Default)]
struct Dropped {
    refusals: u64,
    empty: u64,
    short: u64,
    duplicates: u64,
}

impl Dropped {
    /// The text to keep, or None with the reason counted.
    fn keep(
        &mut self,
        found: Utterance,
        min_chars: usize,
        seen: &mut HashSet<u128>,
    ) -> Option<String> {
        let counter = match found {
            Utterance::Refusal => &mut self.refusals,
            Utterance::Empty => &mut self.empty,
            Utterance::Text(t) if t.chars().count() < min_chars => &mut self.short,
            Utterance::Text(t) if !seen.insert(text_key(&t)) => &mut self.duplicates,
            Utterance::Text(t) => return Some(t),
        };
        *counter += 1;
        None
    }
}

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let (mut reader, progress) = cli.common.reader(tool)?;
    let mut rejects = cli.common.rejects()?;
    let mut out = JsonlWriter::stdout();
    let mut tally = Tally::default();
    let mut dropped = Dropped::default();
    let mut seen = HashSet::new();
    while let Some(line) = reader.next_line()? {
        tally.read += 1;
        let Some(row) = rejects.parse_or_reject(&line, cli.common.max_line_bytes)? else {
            continue;
        };
        let (reply, cut) = match reply_of(&row) {
            Ok(r) => r,
            Err(why) => {
                rejects.reject(&line.location, &why, line.bytes)?;
                continue;
            }
        };
        let Some(text) = dropped.keep(utterance(reply, cut), cli.min_chars, &mut seen) else {
            tally.filtered += 1;
            continue;
        };
        out.write_row(&candidate(&row, text))?;
        tally.written += 1;
        progress.update(tally.read, reader.bytes_read());
    }
    progress.finish();
    out.flush()?;
    tally.blank = reader.blank_lines();
    tool.note(&format!(
        "left out: {} refusals, {} empty, {} shorter than {} characters, {} duplicates",
        dropped.refusals, dropped.empty, dropped.short, cli.min_chars, dropped.duplicates
    ));
    cli.common.finish(tool, tally, rejects)
}

/// The reply and whether it stopped at the token limit; the fields a probe row needs.
fn reply_of(row: &Row) -> Result<(&str, bool), String> {
    for field in ["archetype", "probe"] {
        if !row.get(field).is_some_and(Value::is_string) {
            return Err(format!(
                "{field}: missing (is this generate's output on expand-probes rows?)"
            ));
        }
    }
    let reply = row
        .get("response")
        .and_then(Value::as_str)
        .ok_or("response: missing (run generate first)")?;
    let cut = row.get("finish_reason").and_then(Value::as_str) == Some("length");
    Ok((reply, cut))
}

fn candidate(row: &Row, text: String) -> Row {
    let mut c = Map::new();
    let archetype = row["archetype"].clone();
    c.insert("text".into(), Value::from(text.clone()));
    c.insert("context".into(), Value::from(vec![text]));
    c.insert("source".into(), Value::from("synthetic_probe"));
    c.insert("archetype".into(), archetype.clone());
    c.insert("tags".into(), Value::Array(vec![archetype]));
    c.insert("file".into(), row["probe"].clone());
    for field in ["probe_id", "slots", "rollout", "model", "prompt"] {
        if let Some(v) = row.get(field) {
            c.insert(field.into(), v.clone());
        }
    }
    c
}
