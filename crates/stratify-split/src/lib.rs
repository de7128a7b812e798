//! `stratify-split`: split rows into train / dev / test, stratified per
//! archetype, reproducibly.
//!
//! ```text
//! stratify-split [OPTIONS] [FILE...]
//! stratify-split --seed 3 data.jsonl > split.jsonl            # adds "split"
//! stratify-split --out-dir splits/ --report report.json data.jsonl
//! stratify-split --group-by session_id data.jsonl
//! stratify-split --mode hash --seed 3 shard-*.jsonl          # stable, streaming
//! ```

mod exact;
mod hash;
mod quotas;
mod report;
mod rows;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use refinery_core::expr::parse_path;
use refinery_core::parallel::{default_workers, for_each_chunk};
use refinery_core::progress::Progress;
use refinery_core::reader::{total_size, Input, LineReader};
use refinery_core::text::NORMALIZATION_HELP;
use refinery_core::writer::{write_file_atomically, JsonlFile, JsonlWriter};
use refinery_core::{CommonArgs, Error, Result, Tally, Tool};
use rustc_hash::FxHashSet;

pub use exact::{leaked_texts, Store};
pub use hash::split_of;
pub use quotas::{allocate_table, Filler};
pub use report::Report;

use rows::{read_chunk, Fields, SplitFields};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// hold the rows; exact per-stratum quotas from a seeded shuffle
    Exact,
    /// stream; each row's split from a hash of the seed and its key
    Hash,
}

const AFTER_HELP: &str = "\
Exact mode (default): within each stratum (--by, default archetype; rows without it
form the stratum \"(none)\") the split sizes are the ratios times the stratum size,
rounded by largest remainder, so every split is within one row of its exact share and
the sizes add up. A stratum smaller than the number of splits goes to the splits with
the largest ratios (a single row goes to the first of them). Which rows go where is a
seeded ChaCha8 shuffle: the same input and seed give byte-identical output anywhere.
Rows that must stay together (the same --group-by value; the same normalised text,
always) form units placed whole, largest first, each where it brings its strata closest
to their quotas; the report gives the deviation. NORMALIZATION
File inputs are read twice (once to decide, once to write), so memory holds only
a few dozen bytes per row; the files must not change in between (checked).
Standard input is first copied to a temporary file (in TMPDIR) and read from there.

Hash mode: split = the first split whose cumulative ratio exceeds
XXH3-64(key, seed) >> 11 / 2^53, where the key is --key FIELD's value, else the
--group-by value, else the normalised text. Constant memory; the same answer for any
sharding of the input; a row keeps its split as the dataset grows. Shares come close to
the ratios on large strata; the report gives how close.

Output: every row with a \"split\" field, or with --out-dir one file per split
(DIR/train.jsonl, ...). The report (stderr, or --report FILE as JSON) gives rows per
stratum per split, targets, ratios achieved, groups, duplicate texts kept together and
a leakage check (normalised texts found in more than one split).";

/// Split rows into train/dev/test per stratum, seeded, group- and duplicate-safe
#[derive(Parser, Debug)]
#[command(name = "stratify-split", version, after_long_help = AFTER_HELP.replace("NORMALIZATION", NORMALIZATION_HELP))]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Stratify on FIELD
    #[arg(long, value_name = "FIELD", default_value = "archetype")]
    pub by: String,

    /// Names of the splits
    #[arg(long, value_delimiter = ',', default_value = "train,dev,test")]
    pub splits: Vec<String>,

    /// Share of each split, in the order of --splits; they must add up to 1
    #[arg(long, value_delimiter = ',', default_value = "0.8,0.1,0.1")]
    pub ratios: Vec<f64>,

    /// Random seed
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// How rows are assigned
    #[arg(long, value_enum, default_value = "exact")]
    pub mode: Mode,

    /// Keep every row of a group (e.g. session_id) in one split
    #[arg(long, value_name = "FIELD")]
    pub group_by: Option<String>,

    /// Hash mode: hash FIELD's value instead of the group or the normalised text
    #[arg(long, value_name = "FIELD")]
    pub key: Option<String>,

    /// Write DIR/<split>.jsonl instead of stdout
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Write the report as JSON to FILE instead of a table on stderr
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

fn check_splits(cli: &Cli) -> Result<()> {
    if cli.splits.len() != cli.ratios.len() {
        return Err(Error::usage(format!(
            "--splits names {} splits but --ratios gives {} ratios",
            cli.splits.len(),
            cli.ratios.len()
        )));
    }
    if cli.splits.len() > 255 || cli.splits.is_empty() {
        return Err(Error::usage("--splits: give between 1 and 255 splits"));
    }
    if cli.ratios.iter().any(|r| !r.is_finite() || *r < 0.0) {
        return Err(Error::usage("--ratios: each ratio must be a number >= 0"));
    }
    let sum: f64 = cli.ratios.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(Error::usage(format!("--ratios add up to {sum}, not 1")));
    }
    let mut names = cli.splits.clone();
    names.sort();
    names.dedup();
    if names.len() != cli.splits.len() || cli.splits.iter().any(|s| s.is_empty() || s.contains('/'))
    {
        return Err(Error::usage(
            "--splits: names must be distinct, non-empty and free of `/`",
        ));
    }
    if cli.key.is_some() && cli.mode != Mode::Hash {
        return Err(Error::usage("--key applies to --mode hash"));
    }
    Ok(())
}

/// Where rows go: stdout, or one file per split.
enum Sink {
    Stdout(JsonlWriter<std::io::Stdout>),
    Files(Vec<JsonlFile>),
}

impl Sink {
    fn new(cli: &Cli) -> Result<Sink> {
        match &cli.out_dir {
            None => Ok(Sink::Stdout(JsonlWriter::stdout())),
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                let files = cli
                    .splits
                    .iter()
                    .map(|s| JsonlFile::create(dir.join(format!("{s}.jsonl"))))
                    .collect::<Result<_>>()?;
                Ok(Sink::Files(files))
            }
        }
    }

    fn write(&mut self, split: usize, line: &[u8]) -> Result<()> {
        match self {
            Sink::Stdout(w) => w.write_raw_line(line),
            Sink::Files(files) => files[split].write_raw_line(line),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Stdout(mut w) => w.flush(),
            Sink::Files(files) => files.into_iter().try_for_each(JsonlFile::commit),
        }
    }
}

/// Copies standard input, wherever it appears among the inputs, to a
/// temporary file read in its place (still named `<stdin>`). The returned
/// file is removed when dropped.
fn spool_stdin(inputs: &mut [Input]) -> Result<Option<tempfile::NamedTempFile>> {
    let Some(slot) = inputs.iter_mut().find(|i| **i == Input::Stdin) else {
        return Ok(None);
    };
    let mut spool =
        tempfile::NamedTempFile::new().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    std::io::copy(&mut std::io::stdin().lock(), spool.as_file_mut())
        .map_err(|e| Error::io(spool.path(), e))?;
    *slot = Input::Spooled {
        path: spool.path().to_path_buf(),
        name: "<stdin>".into(),
    };
    Ok(Some(spool))
}

/// The second pass over file inputs: the same lines in the same order, less
/// the ones rejected on the first pass, each written with its split.
fn write_again(
    reader: &mut LineReader,
    bad_lines: &FxHashSet<(String, u64)>,
    store: &Store,
    splits: &[u8],
    fields: &SplitFields,
    sink: &mut Sink,
) -> Result<u64> {
    let mut row = 0usize;
    let mut out = Vec::new();
    while let Some(line) = reader.next_line()? {
        if !bad_lines.is_empty()
            && bad_lines.contains(&(line.location.source.to_string(), line.location.line))
        {
            continue;
        }
        if row >= splits.len() {
            return Err(Error::Check(format!(
                "{}: the input changed while it was being split",
                line.location
            )));
        }
        let split = splits[row] as usize;
        out.clear();
        fields
            .append(&mut out, line.bytes, store.has_split[row], split)
            .map_err(|e| Error::data(line.location.clone(), e))?;
        sink.write(split, &out)?;
        row += 1;
    }
    if row != splits.len() {
        return Err(Error::Check(
            "the input changed while it was being split (fewer rows the second time)".into(),
        ));
    }
    Ok(row as u64)
}

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    check_splits(&cli)?;
    let path = |flag: &str, v: &str| parse_path(v).map_err(|e| Error::flag(flag, e));
    let fields = Fields::new(
        path("--by", &cli.by)?,
        cli.group_by
            .as_deref()
            .map(|g| path("--group-by", g))
            .transpose()?,
        cli.key.as_deref().map(|k| path("--key", k)).transpose()?,
    );
    // Exact mode reads its input twice (once to decide, once to write), so
    // memory holds only what each row says; standard input is spooled to a
    // temporary file first (in TMPDIR, removed at the end).
    let mut inputs = cli.common.inputs(tool)?;
    let _spool = match cli.mode {
        Mode::Exact => spool_stdin(&mut inputs)?,
        Mode::Hash => None,
    };
    let progress = Progress::new(cli.common.messages.quiet, total_size(&inputs));
    let mut reader = LineReader::new(inputs.clone(), cli.common.max_line_bytes);
    let mut rejects = cli.common.rejects()?;
    let mut tally = Tally::default();
    let mut sink = Sink::new(&cli)?;
    let mut report = Report::new(&cli.splits, &cli.ratios, cli.seed, cli.mode == Mode::Hash);
    let workers = default_workers();

    if cli.mode == Mode::Hash {
        let mut cumulative = Vec::new();
        let mut acc = 0.0;
        for r in &cli.ratios {
            acc += r;
            cumulative.push(acc);
        }
        let split_fields = SplitFields::new(&cli.splits);
        let splitter = hash::HashSplitter {
            fields: &fields,
            fields_out: &split_fields,
            cumulative: &cumulative,
            seed: cli.seed,
            max_line_bytes: cli.common.max_line_bytes,
        };
        let read = for_each_chunk(
            &mut reader,
            workers,
            &progress,
            |c| splitter.chunk(c),
            |part| {
                tally.read += part.lines;
                for bad in &part.bad {
                    rejects.reject_bad(bad)?;
                }
                let mut start = 0;
                for (&(split, end), stratum) in part.out.iter().zip(&part.strata) {
                    sink.write(split, &part.bytes[start..end])?;
                    report.count(stratum, split);
                    tally.written += 1;
                    start = end;
                }
                Ok(())
            },
        )?;
        tally.blank = read.blank_lines;
        report.leakage_checked = cli.key.is_none() && cli.group_by.is_none();
    } else {
        let mut store = Store::default();
        let mut bad_lines: FxHashSet<(String, u64)> = FxHashSet::default();
        let read = for_each_chunk(
            &mut reader,
            workers,
            &progress,
            |c| read_chunk(c, &fields, cli.common.max_line_bytes),
            |part| {
                tally.read += part.lines;
                for bad in &part.bad {
                    rejects.reject_bad(bad)?;
                    bad_lines.insert((bad.location.source.to_string(), bad.location.line));
                }
                store.add(part);
                Ok(())
            },
        )?;
        tally.blank = read.blank_lines;
        store.done_reading();
        let (splits, filler) = store.assign(&cli.ratios, cli.seed);
        let split_fields = SplitFields::new(&cli.splits);
        let mut again = LineReader::new(inputs, cli.common.max_line_bytes);
        let written = write_again(
            &mut again,
            &bad_lines,
            &store,
            &splits,
            &split_fields,
            &mut sink,
        )?;
        tally.written += written;
        report.set_exact(&store, &filler);
        report.leaked = Some(leaked_texts(&store.text, &splits));
        report.leakage_checked = true;
    }
    progress.finish();
    sink.finish()?;
    match &cli.report {
        Some(p) => write_file_atomically(
            p,
            &(serde_json::to_string_pretty(&report.to_json()).expect("plain data") + "\n"),
        )?,
        None if !cli.common.messages.quiet => eprint!("{}", report.to_text()),
        None => {}
    }
    cli.common.finish(tool, tally, rejects)
}
