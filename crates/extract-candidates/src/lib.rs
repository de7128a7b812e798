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

mod chunks;
mod cli;
mod goemotions_csv;
mod harvest;
mod join;
mod message;
mod prepared;
mod sources;

use std::fs::File;
use std::io::BufReader;

use refinery_core::expr::Predicate;
use refinery_core::parallel::{default_workers, for_each_chunk};
use refinery_core::progress::Progress;
use refinery_core::reader::{Input, LineReader};
use refinery_core::writer::JsonlWriter;
use refinery_core::{Error, Result, Tally, Tool};
use regex::Regex;

pub use cli::{Cli, Format};
pub use harvest::{Harvester, LeftOut, Selection};
pub use join::{HeadJoin, JoinOn};
pub use message::{FieldNames, Message};
pub use prepared::{Prep, Prepared, TurnsWithoutText};
pub use sources::Event;

use chunks::{prepare_chunk, Output};
use cli::{default_source, sniff};
use goemotions_csv::{read_goemotions_csv, CsvCounts};

/// What every input is read with, from the command line.
struct Setup {
    names: FieldNames,
    predicate: Option<Predicate>,
    pattern: Option<Regex>,
    join: Option<HeadJoin>,
}

impl Setup {
    fn new(cli: &Cli) -> Result<Setup> {
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
        Ok(Setup {
            names: FieldNames {
                text: cli.text_field.clone(),
                session: cli.session_field.clone(),
                role: cli.role_field.clone(),
                time: cli.time_field.clone(),
                id: cli.id_field.clone(),
            },
            predicate,
            pattern,
            join,
        })
    }
}

/// What reading the inputs counted besides the run's own tally.
#[derive(Default)]
struct Counts {
    csv: CsvCounts,
    left_out: LeftOut,
    blank: u64,
}

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let setup = Setup::new(&cli)?;
    let inputs = cli.common.inputs(tool)?;
    let formats: Vec<Format> = inputs
        .iter()
        .map(|i| sniff(i, &cli))
        .collect::<Result<_>>()?;
    if formats.contains(&Format::Log) && setup.pattern.is_none() {
        return Err(Error::usage(
            "text logs need --line-pattern (a regex with a named group `text`)",
        ));
    }
    let mut run = Output {
        out: JsonlWriter::stdout(),
        rejects: cli.common.rejects()?,
        tally: Tally::default(),
        joined: vec![false; setup.join.as_ref().map_or(0, HeadJoin::len)],
        joined_messages: 0,
        line: Vec::new(),
    };
    let mut counts = Counts::default();
    for (input, format) in inputs.into_iter().zip(formats) {
        read_input(&cli, &setup, input, format, &mut run, &mut counts)?;
    }
    run.out.flush()?;

    let mut tally = run.tally;
    let csv = &counts.csv;
    let csv_filtered = csv.merged + csv.unclear + csv.below_agreement;
    tally.read += csv_filtered;
    tally.filtered = counts.left_out.total() + csv_filtered;
    tally.blank = counts.blank;
    report(tool, &cli, &setup, &run, &counts);
    cli.common.finish(tool, tally, run.rejects)
}

/// Reads one input in its format, offering its messages to a harvester of
/// its own (context and duplicates do not cross files).
fn read_input(
    cli: &Cli,
    setup: &Setup,
    input: Input,
    format: Format,
    run: &mut Output,
    counts: &mut Counts,
) -> Result<()> {
    let goemotions = matches!(format, Format::GoemotionsTsv | Format::GoemotionsCsv);
    let source = cli
        .source
        .clone()
        .unwrap_or_else(|| default_source(format).to_string());
    let prep = Prep::new(
        &setup.names,
        &cli.role,
        &cli.tag,
        setup.join.as_ref(),
        &source,
    )
    .for_file(input.name().into());
    let mut harvester = Harvester::new(Selection {
        predicate: setup.predicate.clone(),
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
            let read = match &input {
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
            counts.csv.add(&read);
        }
        Format::Log | Format::GoemotionsTsv => {
            let mut reader = LineReader::new(vec![input], cli.common.max_line_bytes);
            if format == Format::Log {
                let pattern = setup.pattern.as_ref().expect("checked");
                sources::read_log(&mut reader, pattern, cli.continuation, &mut sink)?;
            } else {
                sources::read_goemotions_tsv(&mut reader, &mut sink)?;
            }
            counts.blank += reader.blank_lines();
        }
        _ => {
            let mut reader = LineReader::new(vec![input], cli.common.max_line_bytes);
            let progress = Progress::new(cli.common.messages.quiet, None);
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
            counts.blank += read.blank_lines;
        }
    }
    counts.left_out.add(&harvester.left_out);
    Ok(())
}

/// The notes after a run: what was left out, the GoEmotions CSV merge,
/// the join.
fn report(tool: &Tool, cli: &Cli, setup: &Setup, run: &Output, counts: &Counts) {
    let left_out = &counts.left_out;
    if left_out.total() > 0 {
        tool.note(&format!("left out {}", left_out.describe()));
    }
    let csv = &counts.csv;
    if csv.rater_rows > 0 {
        tool.note(&format!(
            "GoEmotions CSV: {} rater rows; {} merged into their comment, {} marked example_very_unclear, {} comments with no label from {} or more raters",
            csv.rater_rows, csv.merged, csv.unclear, csv.below_agreement, cli.min_agreement
        ));
    }
    if let Some(j) = &setup.join {
        let unmatched = run.joined.iter().filter(|u| !**u).count();
        tool.note(&format!(
            "joined affect-head predictions to {} messages; {unmatched} head rows matched no message{}",
            run.joined_messages,
            if j.duplicate_keys > 0 { format!(", {} repeated a key (first kept)", j.duplicate_keys) } else { String::new() }
        ));
    }
}
