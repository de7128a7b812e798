//! `expand-probes`: probe files to scenario rows for `generate`.
//!
//! ```text
//! expand-probes --seed 1 --per-setup 2 pipelines/probes/scenarios/affect_archetypes/ > scenarios.jsonl
//! ```
//!
//! One row per setup and slot combination: `prompt` (the filled setup),
//! `system_prompt`, `archetype`, `probe` (the file), `setup` (its number in
//! the file), `slots` (the values chosen) and `probe_id`
//! (`archetype/setup/k`). Files are read in name order; directories give
//! their `*.json` files.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::{json, Value};

use refinery_core::config::load_targets;
use refinery_core::writer::JsonlWriter;
use refinery_core::{Error, MessageArgs, Result, Tool};

use crate::expansion::expand;
use crate::probe::{fill, Probe};

/// Expand probe files into scenario rows, with seeded slot values
#[derive(Parser, Debug)]
#[command(name = "expand-probes", version)]
pub struct Cli {
    /// Probe files (JSON), or directories of them
    #[arg(value_name = "PROBE", required = true)]
    pub probes: Vec<PathBuf>,

    /// Seed of the slot choices: same files and seed, same rows
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Slot combinations per setup (fewer when fewer exist)
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub per_setup: usize,

    /// The mapping file naming the archetypes a probe may target
    /// [default: pipelines/archetypes.json, built in]
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    #[command(flatten)]
    pub messages: MessageArgs,
}

refinery_core::impl_command!(Cli, messages.quiet, run);

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    if cli.per_setup == 0 {
        return Err(Error::usage("--per-setup must be at least 1"));
    }
    let names: Vec<String> = load_targets(cli.targets.as_deref())?
        .into_iter()
        .map(|t| t.name)
        .collect();
    let mut out = JsonlWriter::stdout();
    let (mut files, mut rows) = (0, 0);
    for path in probe_files(&cli.probes)? {
        let probe = Probe::load(&path, &names)?;
        files += 1;
        let mut per_setup = vec![0usize; probe.setups.len()];
        for e in expand(&probe, cli.seed, cli.per_setup) {
            let k = per_setup[e.setup];
            per_setup[e.setup] += 1;
            let row = json!({
                "prompt": fill(&probe.setups[e.setup], &e.values),
                "system_prompt": probe.system_prompt,
                "archetype": probe.archetype,
                "probe": path.display().to_string(),
                "setup": e.setup,
                "slots": Value::Object(e.values.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
                "probe_id": format!("{}/{}/{k}", probe.archetype, e.setup),
            });
            out.write_value(&row)?;
            rows += 1;
        }
    }
    out.flush()?;
    tool.note(&format!("{rows} prompts from {files} probe files"));
    Ok(())
}

/// The probe files named, directories expanded to their `*.json`, in name order.
fn probe_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            inside.sort();
            if inside.is_empty() {
                return Err(Error::usage(format!(
                    "{}: no *.json probe files",
                    path.display()
                )));
            }
            files.extend(inside);
        } else {
            files.push(Path::new(path).to_path_buf());
        }
    }
    Ok(files)
}
