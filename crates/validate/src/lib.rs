//! `validate`: check rows against a schema and find duplicates, for CI.
//!
//! ```text
//! validate [OPTIONS] [FILE...]
//! validate data.jsonl > /dev/null                   # exit 1 if any row is invalid
//! validate --rejects bad.jsonl data.jsonl > good.jsonl
//! validate --schema scenario scenarios.jsonl
//! ```
//!
//! Valid rows go to stdout byte for byte as they came. Every invalid row is
//! reported on stderr as `file:line: field: what is wrong` (all of them, not
//! only the first), and with `--rejects FILE` also written there with its
//! reasons. The exit status is 1 if any row was invalid.

mod schema;

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Parser;
use refinery_core::config::load_targets;
use refinery_core::reader::too_long_reason;
use refinery_core::record::{parse_row, type_name};
use refinery_core::text::{text_key, NORMALIZATION_HELP};
use refinery_core::writer::JsonlWriter;
use refinery_core::{CommonArgs, Location, Rejects, Result, Row, Tally, Tool};

pub use schema::{check, duplicate_text, Rules, Schema};

const AFTER_HELP: &str = "\
Schemas:
  affect    text (non-empty string); valence, intimacy, tension (numbers in [-1, 1]);
            confidence (number in [0, 1]); tags (array of non-empty strings);
            source (one of --sources); context (optional, at most 2 strings);
            archetype (optional, one of the archetypes in --targets). Other fields allowed.
  scenario  prompt (non-empty string); polarity (positive|negative); pair (whole
            number >= 0); trait and system_prompt (optional strings).
  response  the scenario fields plus response (string) and optional
            response_token_ids (array of whole numbers).

Duplicates: a row whose text (affect) or prompt and polarity (scenario) repeats an
earlier row's is invalid, naming the first line. NORMALIZATION
A row whose --id-field value repeats an earlier row's is invalid too.

Invalid rows count as rejected in the summary line; exit status 1 if there are any.";

/// Check rows against a schema, find duplicate texts and ids; pass valid rows through
#[derive(Parser, Debug)]
#[command(name = "validate", version, after_long_help = AFTER_HELP.replace("NORMALIZATION", NORMALIZATION_HELP))]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// The schema rows must follow
    #[arg(long, value_enum, default_value = "affect")]
    pub schema: Schema,

    /// Allowed values of `source` (affect), comma-separated
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "manual_chat,goemotions,synthetic_probe"
    )]
    pub sources: Vec<String>,

    /// Archetype names allowed in `archetype` [default: pipelines/archetypes.json, built in]
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// Field holding a row id that must be unique (checked when present)
    #[arg(long, value_name = "FIELD", default_value = "id")]
    pub id_field: String,

    /// Do not look for duplicate texts
    #[arg(long)]
    pub allow_duplicates: bool,

    /// Print at most N problem lines on stderr (all still go to --rejects)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_messages: u64,
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

/// First sightings of texts and ids, to name the line a duplicate repeats.
#[derive(Default)]
struct Seen {
    texts: HashMap<u128, Location>,
    ids: HashMap<String, Location>,
}

impl Seen {
    fn duplicates(&mut self, row: &Row, location: &Location, cli: &Cli) -> Vec<String> {
        let mut problems = Vec::new();
        if !cli.allow_duplicates {
            if let Some(text) = duplicate_text(row, cli.schema) {
                let field = if cli.schema == Schema::Affect {
                    "text"
                } else {
                    "prompt"
                };
                if let Some(first) = self.first_sighting_of_text(text_key(&text), location) {
                    problems.push(format!("{field}: duplicate of {first} (the same text up to case, white space and Unicode normal form)"));
                }
            }
        }
        if let Some(id) = row.get(&cli.id_field).filter(|v| !v.is_null()) {
            let key = match id {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match self.ids.get(&key) {
                Some(first) => problems.push(format!(
                    "{}: duplicate id {key}, first at {first}",
                    cli.id_field
                )),
                None => {
                    self.ids.insert(key, location.clone());
                }
            }
            if id.is_array() || id.is_object() {
                problems.push(format!(
                    "{}: expected a string or number, found {}",
                    cli.id_field,
                    type_name(id)
                ));
            }
        }
        problems
    }

    fn first_sighting_of_text(&mut self, key: u128, location: &Location) -> Option<&Location> {
        use std::collections::hash_map::Entry;
        match self.texts.entry(key) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(e) => {
                e.insert(location.clone());
                None
            }
        }
    }
}

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let rules = Rules {
        schema: cli.schema,
        sources: cli.sources.clone(),
        archetypes: load_targets(cli.targets.as_deref())?
            .into_iter()
            .map(|t| t.name)
            .collect(),
        max_context: 2,
    };
    let (mut reader, progress) = cli.common.reader(tool)?;
    let mut rejects = match &cli.common.rejects {
        Some(path) => Rejects::to_file(path)?,
        None => Rejects::count_only(),
    };
    let mut out = JsonlWriter::stdout();
    let mut tally = Tally::default();
    let mut seen = Seen::default();
    let mut messages = 0u64;
    while let Some(line) = reader.next_line()? {
        tally.read += 1;
        let problems = match line.too_long {
            Some(len) => vec![too_long_reason(len, cli.common.max_line_bytes)],
            None => match parse_row(line.bytes) {
                Err(e) => vec![e.0],
                Ok(row) => {
                    let mut p = check(&row, &rules);
                    p.extend(seen.duplicates(&row, &line.location, &cli));
                    p
                }
            },
        };
        if problems.is_empty() {
            out.write_raw_line(line.bytes)?;
            tally.written += 1;
        } else {
            for problem in &problems {
                messages += 1;
                if messages <= cli.max_messages {
                    tool.say(&format!("{}: {problem}", line.location));
                }
            }
            rejects.reject_with(&line.location, &problems, line.bytes)?;
        }
        progress.update(tally.read, reader.bytes_read());
    }
    progress.finish();
    out.flush()?;
    if messages > cli.max_messages {
        tool.say(&format!(
            "... and {} more problems not shown (--max-messages)",
            messages - cli.max_messages
        ));
    }
    tally.blank = reader.blank_lines();
    cli.common.finish(tool, tally, rejects)
}
