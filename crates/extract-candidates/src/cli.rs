//! The command line of `extract-candidates`: its options, the input
//! formats, and how a format is told from a file when not given.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use refinery_core::reader::Input;
use refinery_core::text::NORMALIZATION_HELP;
use refinery_core::{CommonArgs, Error, Result};

use crate::JoinOn;

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

refinery_core::impl_command!(Cli, common.messages.quiet, crate::run);

pub(crate) fn sniff(input: &Input, cli: &Cli) -> Result<Format> {
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

pub(crate) fn default_source(format: Format) -> &'static str {
    match format {
        Format::GoemotionsTsv | Format::GoemotionsCsv => "goemotions",
        _ => "manual_chat",
    }
}
