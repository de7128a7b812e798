//! `extract-candidates`: harvest candidate rows for labelling from chat
//! transcripts, plain-text logs, affect-head output and GoEmotions.
//!
//! ```text
//! extract-candidates [OPTIONS] [FILE...]
//! extract-candidates --role user chat.jsonl > candidates_manual.jsonl
//! extract-candidates --join affect_head_raw.jsonl --tag tension chat.jsonl
//! extract-candidates --format log --line-pattern '^(?P<ts>\S+) \[(?P<session>\w+)\] (?P<role>\w+): (?P<text>.*)$' interactions.log
//! extract-candidates --where 'emotions has "anger"' train.tsv
//! extract-candidates --min-agreement 2 goemotions_1.csv goemotions_2.csv
//! ```
//!
//! Output rows, in input order: `text`, `context` (the last `--context`
//! turns of the same conversation, ending with this one), `source`,
//! `session_id`, `file`, `line`, `turn` (OpenAI shape), `id`, `timestamp`,
//! `role`, and the predictions the source carries: `pred_valence`,
//! `pred_intimacy`, `pred_tension`, `pred_tags` (named so they never pass
//! for labels), `emotions` (GoEmotions label names), and for raw GoEmotions
//! CSVs `emotion_raters` (raters per label) and `raters`.

mod goemotions_csv;
mod harvest;
mod join;
mod message;
mod prepared;
mod sources;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use refinery_core::expr::Predicate;
use refinery_core::parallel::{default_workers, for_each_chunk, Chunk};
use refinery_core::progress::Progress;
use refinery_core::reader::{too_long_reason, Input, LineReader};
use refinery_core::rejects::BadLine;
use refinery_core::text::NORMALIZATION_HELP;
use refinery_core::writer::JsonlWriter;
use refinery_core::{CommonArgs, Error, Rejects, Result, Tally, Tool};
use regex::Regex;

pub use harvest::{Harvester, LeftOut, Selection};
pub use join::{HeadJoin, JoinOn};
pub use message::{FieldNames, Message};
pub use prepared::{Prep, Prepared, TurnsWithoutText};
pub use sources::Event;

use goemotions_csv::{read_goemotions_csv, CsvCounts};

/// The kinds of input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// by file name: .tsv GoEmotions split, .csv raw GoEmotions, .log/.txt a
    /// text log (needs --line-pattern), else JSONL (chat, or openai when the
    /// first row has a `messages` array); stdin is chat unless told
    Auto,
    /// JSONL, one message per line
    Chat,
    /// JSONL, one conversation per line: {"messages": [{"role", "content"}, ...]}
    Openai,
    /// plain text, one message per line, read by --line-pattern
    Log,
    /// GoEmotions split file: text<TAB>label ids<TAB>comment id
    GoemotionsTsv,
    /// raw GoEmotions release CSV: one row per rater
    GoemotionsCsv,
}

const AFTER_HELP: &str = "\
Selection: --role keeps messages of the given roles; --tag keeps messages whose
predicted tags (from the source or --join) or GoEmotions labels include a tag;
--where takes a predicate over the output row (pred_tension >= 0.4, emotions has
\"anger\", len(text) > 20); --min-chars/--max-chars bound the text length.
Duplicates are left out (first one kept) unless --no-dedup: NORMALIZATION
Context is built from every message of the conversation, whatever the selection.
Messages of a session may be interleaved with other sessions' lines. Without a
session field, a file is one conversation.

Rows left out are counted on stderr by reason. For raw GoEmotions CSVs, rater rows
merged into their comment, rows marked example_very_unclear, and comments where
no label reached --min-agreement count as filtered.";

/// Harvest candidates for labelling from chat logs, affect-head output and GoEmotions
#[derive(Parser, Debug)]
#[command(name = "extract-candidates", version, after_long_help = AFTER_HELP.replace("NORMALIZATION", NORMALIZATION_HELP))]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Input format
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,

    /// Fields holding the message text, first present wins
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FIELD",
        default_value = "text,content,message"
    )]
    pub text_field: Vec<String>,
    /// Fields naming the conversation
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FIELD",
        default_value = "session_id,conversation_id,session"
    )]
    pub session_field: Vec<String>,
    /// Fields naming the speaker
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FIELD",
        default_value = "role,speaker,sender"
    )]
    pub role_field: Vec<String>,
    /// Fields holding the message time
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FIELD",
        default_value = "timestamp,time,ts,created_at"
    )]
    pub time_field: Vec<String>,
    /// Fields holding the message id
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FIELD",
        default_value = "id,message_id"
    )]
    pub id_field: Vec<String>,

    /// Regex for text logs, with named groups text (required), session, role, ts, id
    #[arg(long, value_name = "REGEX")]
    pub line_pattern: Option<String>,
    /// In text logs, a line that does not match --line-pattern continues the message before it
    #[arg(long)]
    pub continuation: bool,

    /// Affect-head output JSONL whose predictions (valence, intimacy, tension, tags) join the messages
    #[arg(long, value_name = "FILE")]
    pub join: Option<PathBuf>,
    /// How head rows find their message
    #[arg(long, value_enum, default_value = "id")]
    pub join_on: JoinOn,

    /// Raw GoEmotions CSV: keep labels at least K raters gave
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub min_agreement: u64,

    /// Keep only messages of these roles (e.g. user)
    #[arg(long, value_delimiter = ',', value_name = "ROLE")]
    pub role: Vec<String>,
    /// Keep only messages with one of these predicted tags or GoEmotions labels
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub tag: Vec<String>,
    /// Keep only candidates matching PREDICATE
    #[arg(long = "where", value_name = "PREDICATE")]
    pub where_: Option<String>,
    /// Shortest text kept, in characters
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_chars: usize,
    /// Longest text kept, in characters
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_chars: usize,
    /// Keep duplicate texts
    #[arg(long)]
    pub no_dedup: bool,
    /// Turns of context, ending with the message itself (0: no context field)
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub context: usize,
    /// The `source` written on candidates [default: manual_chat; goemotions for GoEmotions files]
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
}

refinery_core::impl_command!(Cli, common.quiet, run);

fn sniff(input: &Input, cli: &Cli) -> Result<Format> {
    if cli.format != Format::Auto {
        return Ok(cli.format);
    }
    let Input::File(path) = input else {
        return Ok(if cli.line_pattern.is_some() {
            Format::Log
        } else {
            Format::Chat
        });
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(match ext.as_str() {
        "tsv" => Format::GoemotionsTsv,
        "csv" => Format::GoemotionsCsv,
        "log" | "txt" => Format::Log,
        _ if cli.line_pattern.is_some() => Format::Log,
        _ => {
            if first_line_has_messages(path)? {
                Format::Openai
            } else {
                Format::Chat
            }
        }
    })
}

fn first_line_has_messages(path: &Path) -> Result<bool> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    for line in BufReader::new(file).lines().take(100) {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Option<serde_json::Value> = serde_json::from_str(&line).ok();
        return Ok(row.is_some_and(|r| r.get("messages").is_some_and(|m| m.is_array())));
    }
    Ok(false)
}

fn default_source(format: Format) -> &'static str {
    match format {
        Format::GoemotionsTsv | Format::GoemotionsCsv => "goemotions",
        _ => "manual_chat",
    }
}

/// The state of one run: where candidates and bad lines go, and the counts.
struct Output {
    out: JsonlWriter<std::io::Stdout>,
    rejects: Rejects,
    tally: Tally,
    joined: Vec<bool>,
    joined_messages: u64,
    line: Vec<u8>,
}

impl Output {
    fn message(&mut self, harvester: &mut Harvester, p: &Prepared, arena: &[u8]) -> Result<()> {
        self.tally.read += 1;
        if let Some(i) = p.joined {
            self.joined[i as usize] = true;
            self.joined_messages += 1;
        }
        self.line.clear();
        if harvester.offer(p, arena, &mut self.line) {
            self.out.write_raw_line(&self.line)?;
            self.tally.written += 1;
        }
        Ok(())
    }

    fn bad(&mut self, bad: &BadLine) -> Result<()> {
        self.tally.read += 1;
        self.rejects.reject_bad(bad)
    }
}

/// A chunk's messages as a worker leaves them, in order, with its bad lines
/// in their places.
type ChatItem = std::result::Result<Prepared, BadLine>;

/// A chunk's messages and the one buffer holding their bytes.
struct PreparedChunk {
    items: Vec<ChatItem>,
    arena: Vec<u8>,
    /// OpenAI-shaped turns that gave no message.
    without_text: TurnsWithoutText,
}

fn prepare_chunk(
    prep: &Prep,
    format: Format,
    chunk: &Chunk,
    max_line_bytes: usize,
) -> PreparedChunk {
    let mut items = Vec::with_capacity(chunk.len());
    let mut arena = Vec::with_capacity(chunk.len() * 384);
    let mut without_text = TurnsWithoutText::default();
    for l in chunk.lines() {
        let bad = |reason: String| BadLine {
            location: l.location.clone(),
            reason,
            raw: l.bytes.to_vec(),
        };
        if let Some(len) = l.too_long {
            items.push(Err(bad(too_long_reason(len, max_line_bytes))));
            continue;
        }
        match format {
            Format::Openai => match prep.openai_line(l.bytes, l.location, &mut arena) {
                Ok((messages, without)) => {
                    items.extend(messages.into_iter().map(Ok));
                    without_text.turns += without.turns;
                    without_text.parts += without.parts;
                }
                Err(reason) => items.push(Err(bad(reason))),
            },
            _ => items.push(prep.chat_line(l.bytes, l.location, &mut arena).map_err(bad)),
        }
    }
    PreparedChunk {
        items,
        arena,
        without_text,
    }
}

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let names = FieldNames {
        text: cli.text_field.clone(),
        session: cli.session_field.clone(),
        role: cli.role_field.clone(),
        time: cli.time_field.clone(),
        id: cli.id_field.clone(),
    };
    let predicate = cli
        .where_
        .as_deref()
        .map(Predicate::parse)
        .transpose()
        .map_err(|e| Error::flag("--where", e))?;
    let pattern = match &cli.line_pattern {
        Some(p) => {
            let re = Regex::new(p).map_err(|e| Error::flag("--line-pattern", e))?;
            sources::check_log_pattern(&re).map_err(Error::usage)?;
            Some(re)
        }
        None => None,
    };
    let join = cli
        .join
        .as_deref()
        .map(|p| HeadJoin::load(p, cli.join_on))
        .transpose()?;
    let inputs = cli.common.inputs(tool)?;
    let formats: Vec<Format> = inputs
        .iter()
        .map(|i| sniff(i, &cli))
        .collect::<Result<_>>()?;
    if formats.contains(&Format::Log) && pattern.is_none() {
        return Err(Error::usage(
            "text logs need --line-pattern (a regex with a named group `text`)",
        ));
    }

    let mut run = Output {
        out: JsonlWriter::stdout(),
        rejects: cli.common.rejects()?,
        tally: Tally::default(),
        joined: vec![false; join.as_ref().map_or(0, HeadJoin::len)],
        joined_messages: 0,
        line: Vec::new(),
    };
    let mut csv_counts = CsvCounts::default();
    let mut left_out = LeftOut::default();
    let mut blank = 0;
    for (input, format) in inputs.into_iter().zip(formats) {
        let goemotions = matches!(format, Format::GoemotionsTsv | Format::GoemotionsCsv);
        let source = cli
            .source
            .clone()
            .unwrap_or_else(|| default_source(format).to_string());
        let prep = Prep::new(&names, &cli.role, &cli.tag, join.as_ref(), &source)
            .for_file(input.name().into());
        let mut harvester = Harvester::new(Selection {
            predicate: predicate.clone(),
            min_chars: cli.min_chars,
            max_chars: cli.max_chars,
            dedup: !cli.no_dedup,
            // GoEmotions comments stand alone: they have no conversation.
            context: if goemotions { 0 } else { cli.context },
        });
        let mut scratch = Vec::new();
        let mut sink = |event: Event| -> Result<()> {
            match event {
                Event::Bad(bad) => run.bad(&bad),
                Event::Message(m) => {
                    scratch.clear();
                    let p = prep.message(&m, &mut scratch);
                    run.message(&mut harvester, &p, &scratch)
                }
            }
        };
        match format {
            Format::GoemotionsCsv => {
                let counts = match &input {
                    Input::File(p) | Input::Spooled { path: p, .. } => {
                        let file = File::open(p).map_err(|e| Error::io(p, e))?;
                        read_goemotions_csv(
                            &input.name(),
                            BufReader::new(file),
                            cli.min_agreement,
                            &mut sink,
                        )?
                    }
                    Input::Stdin => read_goemotions_csv(
                        "<stdin>",
                        std::io::stdin().lock(),
                        cli.min_agreement,
                        &mut sink,
                    )?,
                };
                csv_counts.add(&counts);
            }
            Format::Log | Format::GoemotionsTsv => {
                let mut reader = LineReader::new(vec![input], cli.common.max_line_bytes);
                if format == Format::Log {
                    sources::read_log(
                        &mut reader,
                        pattern.as_ref().expect("checked"),
                        cli.continuation,
                        &mut sink,
                    )?;
                } else {
                    sources::read_goemotions_tsv(&mut reader, &mut sink)?;
                }
                blank += reader.blank_lines();
            }
            _ => {
                let mut reader = LineReader::new(vec![input], cli.common.max_line_bytes);
                let progress = Progress::new(cli.common.quiet, None);
                let max = cli.common.max_line_bytes;
                let read = for_each_chunk(
                    &mut reader,
                    default_workers(),
                    &progress,
                    |c| prepare_chunk(&prep, format, c, max),
                    |chunk| {
                        // A turn without text is read and left out, as any
                        // message the selection leaves out.
                        run.tally.read += chunk.without_text.turns;
                        harvester.left_out.no_text += chunk.without_text.turns;
                        harvester.left_out.non_text_parts += chunk.without_text.parts;
                        for item in &chunk.items {
                            match item {
                                Ok(p) => run.message(&mut harvester, p, &chunk.arena)?,
                                Err(bad) => run.bad(bad)?,
                            }
                        }
                        Ok(())
                    },
                )?;
                progress.finish();
                blank += read.blank_lines;
            }
        }
        left_out.add(&harvester.left_out);
    }
    run.out.flush()?;

    let mut tally = run.tally;
    let csv_filtered = csv_counts.merged + csv_counts.unclear + csv_counts.below_agreement;
    tally.read += csv_filtered;
    tally.filtered = left_out.total() + csv_filtered;
    tally.blank = blank;
    if left_out.total() > 0 {
        tool.note(&format!("left out {}", left_out.describe()));
    }
    if csv_counts.rater_rows > 0 {
        tool.note(&format!(
            "GoEmotions CSV: {} rater rows; {} merged into their comment, {} marked example_very_unclear, {} comments with no label from {} or more raters",
            csv_counts.rater_rows, csv_counts.merged, csv_counts.unclear, csv_counts.below_agreement, cli.min_agreement
        ));
    }
    if let Some(j) = &join {
        let unmatched = run.joined.iter().filter(|u| !**u).count();
        tool.note(&format!(
            "joined affect-head predictions to {} messages; {unmatched} head rows matched no message{}",
            run.joined_messages,
            if j.duplicate_keys > 0 { format!(", {} repeated a key (first kept)", j.duplicate_keys) } else { String::new() }
        ));
    }
    cli.common.finish(tool, tally, run.rejects)
}
