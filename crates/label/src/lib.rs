//! `label`: a rater works through candidates in the terminal, or through a
//! spreadsheet.
//!
//! ```text
//! label candidates.jsonl -o labelled.jsonl            # interactive
//! label candidates.jsonl --export-csv sheet.csv       # sheet with empty label columns
//! label --import-csv sheet.csv -o labelled.jsonl      # filled sheet back to JSONL
//! label candidates.jsonl -o ana.jsonl --rater ana --raters ana,ben --overlap 0.2
//! ```
//!
//! Modules: [`form`] is the answer form and its checks (the state machine),
//! [`session`] the output file, resume and undo, [`sheet`] the CSV route,
//! [`tui`] the screen, [`assign`] the share of candidates each rater gets.

pub mod assign;
pub mod clock;
pub mod form;
pub mod session;
pub mod sheet;
pub mod tui;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Parser;

use refinery_core::config::load_targets;
use refinery_core::rejects::{read_rows, rejected_error};
use refinery_core::writer::{AtomicFile, JsonlFile, JsonlWriter};
use refinery_core::{CommonArgs, Error, Location, Result, Row, Tool};
use serde_json::Value;

use clock::utc_now;
use session::{Rater, Session};

const AFTER_HELP: &str = "\
Blind by default: the rater sees the text, its context turns and its provenance,
never a model's predicted values, an archetype's prior or a suggested archetype,
so the labels cannot copy them; every axis and the confidence start empty and
must be given before an answer is saved. --show-suggestions shows them (and
starts the form from them); every row then says labelled_with_suggestions: true.

Interactive: one candidate at a time. Keys:
  ←/→            step valence, intimacy, tension or confidence by 0.1 (the
                 first step on an empty field puts it at the middle)
  digits, -, .   type a value; Enter accepts it (a value out of range is refused)
  ↑/↓, Enter     move between fields; Enter on the last field saves
  Tab            complete the archetype (or a tag) from the mapping file
  Ctrl-S         save from any field       Ctrl-N  skip this candidate
  Ctrl-U         undo the last answer      Ctrl-Q  quit (Esc too)
Every answer is appended to OUT at once (fsync'd), so a killed session loses
nothing; starting again with the same files resumes after the last labelled
candidate. Labelled rows keep every candidate field and add valence, intimacy,
tension, confidence, archetype (also added to tags), tags, labelled_by (the
rater), labelled_at (RFC 3339 UTC; SOURCE_DATE_EPOCH fixes it for reproducible
runs) and labelled_with_suggestions.

A sprint with several raters: every rater runs label on the same candidates
file with the same --raters, --overlap and --seed and their own --rater. A
seeded SHARE of the candidates (the overlap, marked overlap: true) goes to every
rater, the rest is dealt out evenly so each candidate has one rater; rows say
whom they were dealt to (assigned_to), and a sheet imports only as that rater. `stats --agreement ana.jsonl ben.jsonl` then
measures how far the raters agree on the overlap (Krippendorff's alpha).

Spreadsheet: --export-csv writes a sheet whose header row gives each label
column's allowed values; --import-csv reads it back through the same checks as
the form and `validate --schema affect`, naming the sheet row of every bad
cell (nothing is written unless every filled row is good). Rows with all label
cells empty are left out and counted.";

/// Label candidates in the terminal, or export/import a CSV sheet for raters
#[derive(Parser, Debug)]
#[command(name = "label", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Candidate rows (FILE: JSONL, e.g. from extract-candidates or
    /// map-archetype; one file when labelling in the terminal)
    #[command(flatten)]
    pub common: CommonArgs,

    /// Labelled rows: appended to (interactive) or written (import; stdout if absent)
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Write the candidates as a CSV sheet with empty label columns
    #[arg(long, value_name = "SHEET", conflicts_with = "import_csv")]
    pub export_csv: Option<PathBuf>,

    /// Read a filled sheet back to labelled JSONL
    #[arg(long, value_name = "SHEET")]
    pub import_csv: Option<PathBuf>,

    /// The mapping file whose archetypes and targets the rater picks from
    /// [default: pipelines/archetypes.json, built in]
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// Labelled datasets whose rows count toward the targets in the status
    /// line as well (e.g. the current run's dataset)
    #[arg(long, value_name = "FILE")]
    pub dataset: Vec<PathBuf>,

    /// Who is labelling, written to labelled_by [default: $USER]
    #[arg(long, value_name = "NAME")]
    pub rater: Option<String>,

    /// Show predicted and prior values and the suggested archetype, and
    /// start the form from them (rows say labelled_with_suggestions: true)
    #[arg(long)]
    pub show_suggestions: bool,

    /// Every rater of the sprint, comma-separated: the candidates are
    /// shared out between them (with --overlap, a share goes to all)
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub raters: Vec<String>,

    /// The share of candidates every rater labels, for measuring agreement
    #[arg(
        long,
        value_name = "SHARE",
        requires = "raters",
        allow_negative_numbers = true
    )]
    pub overlap: Option<f64>,

    /// Seed of the share-out (the same for every rater of a sprint)
    #[arg(long, value_name = "N", default_value_t = 0, requires = "raters")]
    pub seed: u64,
}

/// Whether a candidate has text a rater can label (not missing, not blank).
fn has_text(row: &Row) -> bool {
    row.get("text")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.trim().is_empty())
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let targets = load_targets(cli.targets.as_deref())?;
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    if let Some(sheet) = &cli.import_csv {
        return import(&cli, sheet, &names, tool);
    }
    if let Some(sheet) = &cli.export_csv {
        // A candidate without text could not be labelled, and the sheet
        // would not import: it is left out and named.
        let (mut located, rejects) = read_candidates(&cli, tool)?;
        if let Some(assignment) = assignment(&cli)? {
            located = assignment.keep(located);
        }
        let (rows, textless): (Vec<_>, Vec<_>) =
            located.into_iter().partition(|(_, row)| has_text(row));
        let rows: Vec<Row> = rows.into_iter().map(|(_, row)| row).collect();
        let mut file = AtomicFile::create(sheet)?;
        sheet::export(
            &rows,
            &names,
            &mut file,
            &sheet.display().to_string(),
            cli.show_suggestions,
        )?;
        file.commit()?;
        tool.note(&format!(
            "{} candidates written to {}",
            rows.len(),
            sheet.display()
        ));
        if !textless.is_empty() {
            let places: Vec<String> = textless.iter().map(|(at, _)| at.to_string()).collect();
            tool.say(&format!(
                "left out {} candidates without text (nothing to label): {}",
                textless.len(),
                places.join(", ")
            ));
        }
        return rejected_error(rejects, cli.common.rejects.as_deref());
    }
    let candidates = match cli.common.files.as_slice() {
        [file] if file.as_os_str() != "-" => file.clone(),
        _ => return Err(Error::usage(
            "labelling in the terminal takes one candidates FILE (the keyboard is standard input)",
        )),
    };
    let out = cli
        .output
        .as_deref()
        .ok_or_else(|| Error::usage("give -o OUT, the file answers are appended to"))?;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Error::usage(
            "label is interactive and needs a terminal; for a sheet use --export-csv / --import-csv",
        ));
    }
    let assignment = assignment(&cli)?;
    let (located, rejects) = read_candidates(&cli, tool)?;
    let name = candidates.display().to_string();
    let mut session = Session::open(
        located,
        name,
        out,
        targets,
        rater(&cli)?,
        assignment.as_ref(),
    )?;
    session.count_also(&cli.dataset)?;
    tui::run(&mut session)?;
    tool.note(&format!(
        "{} labelled in {}; {} of {} candidates left",
        session.labelled_count(),
        out.display(),
        session.candidates.len() - session.position.min(session.candidates.len()),
        session.candidates.len()
    ));
    rejected_error(rejects, cli.common.rejects.as_deref())
}

/// The candidates with their places, and how many lines went to --rejects.
fn read_candidates(cli: &Cli, tool: &Tool) -> Result<(Vec<(Location, Row)>, u64)> {
    let mut rejects = cli.common.rejects()?;
    let located = read_rows(&mut cli.common.line_reader(tool)?, &mut rejects)?;
    Ok((located, rejects.finish()?))
}

fn rater(cli: &Cli) -> Result<Rater> {
    let name = cli
        .rater
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Error::usage("who is labelling? give --rater NAME"))?;
    Ok(Rater {
        name,
        clock: utc_now,
        suggestions: cli.show_suggestions,
    })
}

/// This rater's share of the candidates, when --raters is given.
fn assignment(cli: &Cli) -> Result<Option<assign::Assignment>> {
    if cli.raters.is_empty() {
        return Ok(None);
    }
    let me = rater(cli)?.name;
    assign::Assignment::new(&cli.raters, &me, cli.overlap.unwrap_or(0.0), cli.seed).map(Some)
}

fn import(cli: &Cli, sheet: &std::path::Path, names: &[String], tool: &Tool) -> Result<()> {
    let found = sheet::import(sheet, names, &rater(cli)?, &sheet::affect_rules(names))?;
    if !found.problems.is_empty() {
        for problem in &found.problems {
            eprintln!("label: {problem}");
        }
        return Err(Error::Check(format!(
            "{} problems in {}; nothing written",
            found.problems.len(),
            sheet.display()
        )));
    }
    match &cli.output {
        Some(path) => {
            let mut out = JsonlFile::create(path)?;
            for row in &found.rows {
                out.write_row(row)?;
            }
            out.commit()?;
        }
        None => {
            let mut out = JsonlWriter::stdout();
            for row in &found.rows {
                out.write_row(row)?;
            }
            out.flush()?;
        }
    }
    tool.note(&format!(
        "{} labelled rows imported, {} sheet rows left blank",
        found.rows.len(),
        found.blank
    ));
    Ok(())
}
