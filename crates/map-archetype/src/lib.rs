//! `map-archetype`: give each row an archetype from the rules of a mapping
//! file, and optionally draw a balanced, seeded sample per archetype.
//!
//! ```text
//! map-archetype [OPTIONS] [FILE...]
//! map-archetype candidates.jsonl > mapped.jsonl
//! map-archetype --only-matched --per-archetype 100 --seed 3 --overflow rest.jsonl goe.jsonl
//! map-archetype --cap-at-target --targets my_archetypes.json goe.jsonl
//! ```
//!
//! Adds `archetype` (null when no rule fired), the archetype to `tags`
//! (existing tags kept, no duplicates), `archetype_rule` (`axes`,
//! `emotions[i]` or `keywords[i]`: which rule of the mapping file fired),
//! and `prior` for rows mapped without axes of their own: the archetype's
//! prior axes with a low confidence, marked as not a label.

mod assign;
mod mapping;
mod sample;

use std::path::PathBuf;

use clap::Parser;
use refinery_core::record::with_fields;
use refinery_core::writer::{JsonlFile, JsonlWriter};
use refinery_core::{CommonArgs, Error, Result, Tally, Tool};

pub use assign::{assign, fields, Assignment};
pub use mapping::{Archetype, Clause, Mapping, Prior};
pub use sample::Quota;

const AFTER_HELP: &str = "\
The archetypes file (--targets FILE, the file every tool takes under that name;
default pipelines/archetypes.json, built in) lists archetypes with
a target count, an axes rule (a predicate such as 'valence <= -0.2 and intimacy >= 0.3'),
GoEmotions rules (all_of: every label present; any_of: groups that each need one
label; none_of: labels that must be absent), keyword regexes over `text`, and prior
axes; `priority` orders them for rows that several rules match. Unknown fields and
labels, empty rules and contradictory rules are errors naming the archetype.

Sampling: --per-archetype N, or --cap-at-target for each archetype's target, keeps at most
that many rows of each archetype: the rows with the lowest XXH3-64 hash of their
input line under --seed, so the sample is uniform and does not depend on input order.
Rows beyond a quota go to --overflow FILE (or are counted as filtered); kept rows are
written in input order. Rows without an archetype pass through unless --only-matched.";

/// Assign archetypes by the rules of a mapping file; draw balanced, seeded samples
#[derive(Parser, Debug)]
#[command(name = "map-archetype", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Archetypes file: rules and targets [default: pipelines/archetypes.json, built in]
    #[arg(long, value_name = "FILE", visible_alias = "mapping")]
    pub targets: Option<PathBuf>,

    /// Leave out rows that no rule matched (counted as filtered)
    #[arg(long)]
    pub only_matched: bool,

    /// Keep at most N rows per archetype
    #[arg(long, value_name = "N", conflicts_with = "cap_at_target")]
    pub per_archetype: Option<u64>,

    /// Keep at most each archetype's target count from the archetypes file
    #[arg(long)]
    pub cap_at_target: bool,

    /// Seed for sampling
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Write rows beyond a quota to FILE
    #[arg(long, value_name = "FILE")]
    pub overflow: Option<PathBuf>,

    /// Let axis rules read predictions (pred_valence, pred_intimacy, pred_tension,
    /// pred_tags) where a row has no labelled axes or tags: for harvest candidates
    #[arg(long)]
    pub use_predictions: bool,
}

/// The labels `--use-predictions` may fill, each with its prediction.
const PREDICTED: [(&str, &str); 4] = [
    ("valence", "pred_valence"),
    ("intimacy", "pred_intimacy"),
    ("tension", "pred_tension"),
    ("tags", "pred_tags"),
];

/// The row as the rules see it under `--use-predictions`: each missing
/// label filled from its prediction. A row with nothing to fill is used as
/// it is, without a copy.
fn with_predictions(row: &refinery_core::Row) -> std::borrow::Cow<'_, refinery_core::Row> {
    let missing = |field: &str| row.get(field).is_none_or(|v| v.is_null());
    let fills = PREDICTED
        .iter()
        .filter(|(f, p)| missing(f) && row.contains_key(*p));
    let mut view = std::borrow::Cow::Borrowed(row);
    for (field, pred) in fills {
        view.to_mut().insert(field.to_string(), row[*pred].clone());
    }
    view
}

refinery_core::impl_command!(Cli, common.messages.quiet, run);

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    let mapping = Mapping::load(cli.targets.as_deref())?;
    if cli.overflow.is_some() && cli.per_archetype.is_none() && !cli.cap_at_target {
        return Err(Error::usage(
            "--overflow needs --per-archetype or --cap-at-target",
        ));
    }
    let mut quotas: Option<Vec<Quota>> = if cli.cap_at_target {
        Some(
            mapping
                .archetypes
                .iter()
                .map(|a| Quota::new(a.target))
                .collect(),
        )
    } else {
        cli.per_archetype
            .map(|n| mapping.archetypes.iter().map(|_| Quota::new(n)).collect())
    };
    let mut overflow = cli.overflow.as_deref().map(JsonlFile::create).transpose()?;
    let (mut reader, progress) = cli.common.reader(tool)?;
    let mut rejects = cli.common.rejects()?;
    let mut out = JsonlWriter::stdout();
    let mut tally = Tally::default();
    let mut counts = vec![0u64; mapping.archetypes.len()];
    let (mut unmatched, mut beyond) = (0u64, 0u64);
    while let Some(line) = reader.next_line()? {
        tally.read += 1;
        let seq = tally.read;
        let Some(row) = rejects.parse_or_reject(&line, cli.common.max_line_bytes)? else {
            continue;
        };
        let assignment = if cli.use_predictions {
            assign(&mapping, &with_predictions(&row))
        } else {
            assign(&mapping, &row)
        };
        let added = match fields(&mapping, &row, assignment.as_ref()) {
            Ok(f) => f,
            Err(why) => {
                rejects.reject(&line.location, &why, line.bytes)?;
                continue;
            }
        };
        let annotated = with_fields(line.bytes, &row, &added);
        match (&assignment, quotas.as_mut()) {
            (None, _) => {
                unmatched += 1;
                if cli.only_matched {
                    tally.filtered += 1;
                } else {
                    out.write_raw_line(&annotated)?;
                    tally.written += 1;
                }
            }
            (Some(a), None) => {
                counts[a.archetype] += 1;
                out.write_raw_line(&annotated)?;
                tally.written += 1;
            }
            (Some(a), Some(quotas)) => {
                counts[a.archetype] += 1;
                if let Some(pushed_out) =
                    quotas[a.archetype].offer(cli.seed, line.bytes, seq, annotated)
                {
                    beyond += 1;
                    tally.filtered += 1;
                    if let Some(f) = overflow.as_mut() {
                        f.write_raw_line(&pushed_out.line)?;
                    }
                }
            }
        }
        progress.update(tally.read, reader.bytes_read());
    }
    progress.finish();
    if let Some(quotas) = quotas {
        // Kept rows are written after the unmatched pass-through rows, in input order.
        let mut kept: Vec<_> = quotas.into_iter().flat_map(Quota::into_rows).collect();
        kept.sort_by_key(|h| h.seq);
        for h in kept {
            out.write_raw_line(&h.line)?;
            tally.written += 1;
        }
    }
    out.flush()?;
    if let Some(f) = overflow {
        f.commit()?;
    }
    tally.blank = reader.blank_lines();
    let per: Vec<String> = mapping
        .archetypes
        .iter()
        .zip(&counts)
        .filter(|(_, n)| **n > 0)
        .map(|(a, n)| format!("{} {n}", a.name))
        .collect();
    tool.note(&format!(
        "matched: {}; no archetype: {unmatched}{}",
        if per.is_empty() {
            "none".to_string()
        } else {
            per.join(", ")
        },
        if beyond > 0 {
            format!("; {beyond} beyond quota")
        } else {
            String::new()
        }
    ));
    cli.common.finish(tool, tally, rejects)
}
