//! `refinery TOOL [ARGS...]`: every refinery tool from one binary, as
//! uutils' `coreutils` or busybox, so one install puts a single name on the
//! user's PATH (`stats` or `validate` alone would sit next to other tools of
//! those names). Called through a link named after a tool (`ln -s refinery
//! stats`), it runs that tool. The per-tool binaries stay; each tool runs
//! the same way from either (`core::cli::run_command`).

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use refinery_core::cli::run_command;

#[global_allocator]
static ALLOCATOR: refinery_core::cli::Allocator = refinery_core::cli::Allocator;

/// (name, what it does) of every tool, in the order the README lists them.
const TOOLS: [(&str, &str); 14] = [
    ("validate", "check rows against the affect schema"),
    (
        "stats",
        "summaries, the baseline block, archetype gaps, CI gates",
    ),
    (
        "extract-candidates",
        "candidate rows from chat logs, OpenAI conversations, GoEmotions",
    ),
    (
        "map-archetype",
        "give rows an archetype; balanced, seeded samples",
    ),
    (
        "stratify-split",
        "train/dev/test splits stratified by archetype",
    ),
    ("generate", "continue prompts with a causal LM"),
    (
        "vet-score",
        "an LLM judge's score of scenarios and responses",
    ),
    (
        "first-tokens",
        "the First Token Test, and fixes for what fails it",
    ),
    (
        "apply-suggestions",
        "apply the fixes you accepted to the scenario files",
    ),
    (
        "expand-scenarios",
        "more scenario pairs from a few examples",
    ),
    ("export-trait", "the passing pairs in trait-interp's layout"),
    (
        "expand-probes",
        "synthetic probe prompts for the archetypes the data lacks",
    ),
    (
        "probe-candidates",
        "generate's replies to probes as candidate rows",
    ),
    (
        "label",
        "label candidates in the terminal or through a sheet",
    ),
];

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let called = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("refinery")
        .to_string();
    if called != "refinery" && TOOLS.iter().any(|(n, _)| *n == called) {
        return run(&called, args);
    }
    args.remove(0);
    match args.first().and_then(|a| a.to_str()) {
        None | Some("-h" | "--help" | "help") => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("refinery {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(name) if TOOLS.iter().any(|(n, _)| *n == name) => {
            let name = name.to_string();
            run(&name, args)
        }
        Some(other) => {
            eprintln!(
                "refinery: no tool named `{other}`; the tools: {}",
                TOOLS.map(|(n, _)| n).join(", ")
            );
            ExitCode::from(2)
        }
    }
}

/// Runs tool `name`; `args` starts with the name, as a tool's own argv does.
fn run(name: &str, args: Vec<OsString>) -> ExitCode {
    match name {
        "validate" => run_command::<refinery_validate::Cli, _, _>(args),
        "stats" => run_command::<refinery_stats::Cli, _, _>(args),
        "extract-candidates" => run_command::<refinery_extract_candidates::Cli, _, _>(args),
        "map-archetype" => run_command::<refinery_map_archetype::Cli, _, _>(args),
        "stratify-split" => run_command::<refinery_stratify_split::Cli, _, _>(args),
        "generate" => run_command::<refinery_generate::Cli, _, _>(args),
        "vet-score" => run_command::<refinery_vet_score::Cli, _, _>(args),
        "first-tokens" => run_command::<refinery_first_tokens::Cli, _, _>(args),
        "apply-suggestions" => run_command::<refinery_apply_suggestions::Cli, _, _>(args),
        "expand-scenarios" => run_command::<refinery_expand_scenarios::Cli, _, _>(args),
        "export-trait" => run_command::<refinery_export_trait::Cli, _, _>(args),
        "expand-probes" => run_command::<refinery_probes::expand::Cli, _, _>(args),
        "probe-candidates" => run_command::<refinery_probes::collect::Cli, _, _>(args),
        "label" => run_command::<refinery_label::Cli, _, _>(args),
        _ => unreachable!("main checks the name against TOOLS"),
    }
}

fn usage() -> String {
    let mut text = String::from(
        "Every refinery tool from one binary\n\nUsage: refinery TOOL [ARGS]...   (refinery TOOL --help for a tool's options)\n\nTools:\n",
    );
    for (name, what) in TOOLS {
        text.push_str(&format!("  {name:<20}{what}\n"));
    }
    text
}
