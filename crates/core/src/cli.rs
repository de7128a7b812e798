//! The plumbing every binary shares: common options, messages on stderr
//! prefixed with the tool's name, and one way to start, run and exit.
//!
//! Each tool's `Cli` implements [`Command`] and its `main.rs` is one line,
//! `refinery_core::tool_main!(refinery_stats::Cli)`, so every tool parses,
//! exits, flushes and handles a closed pipe the same way, under the name
//! clap knows it by.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::reader::{total_size, Input, LineReader, DEFAULT_MAX_LINE_BYTES};
use crate::rejects::{rejected_error, Rejects, Tally};

/// Options every tool takes, flattened into each tool's own `Cli`.
#[derive(Args, Clone, Debug, Default)]
pub struct CommonArgs {
    /// Input JSONL files; none, or `-`, reads standard input
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Keep going past bad lines, writing each with its line number and
    /// reason to FILE as JSONL; exit 1 at the end if any were rejected
    #[arg(long, value_name = "FILE", help_heading = "Common options")]
    pub rejects: Option<PathBuf>,

    /// Longest input line accepted, in bytes; a longer line is bad input
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES, help_heading = "Common options")]
    pub max_line_bytes: usize,

    /// `-q`, the option every tool takes.
    #[command(flatten)]
    pub messages: MessageArgs,
}

/// The option every tool takes, also one whose inputs are not JSON Lines
/// (probe files, scenario files).
#[derive(Args, Clone, Debug, Default)]
pub struct MessageArgs {
    /// No messages and no progress bar on stderr (errors are still printed)
    #[arg(short, long, help_heading = "Common options")]
    pub quiet: bool,
}

impl CommonArgs {
    /// The inputs, refusing to wait on a terminal for data that is not coming.
    pub fn inputs(&self, tool: &Tool) -> Result<Vec<Input>> {
        let inputs = Input::from_args(&self.files);
        if inputs.contains(&Input::Stdin) && std::io::stdin().is_terminal() {
            return Err(Error::usage(format!(
                "no input: give FILE arguments or pipe JSON Lines into {0} (see {0} --help)",
                tool.name
            )));
        }
        Ok(inputs)
    }

    /// A reader over the inputs and a progress bar sized to them (none on
    /// a pipe or with `--quiet`).
    pub fn reader(&self, tool: &Tool) -> Result<(LineReader, Progress)> {
        let inputs = self.inputs(tool)?;
        let progress = Progress::new(self.messages.quiet, total_size(&inputs));
        Ok((LineReader::new(inputs, self.max_line_bytes), progress))
    }

    /// A reader over the inputs, without a progress bar.
    pub fn line_reader(&self, tool: &Tool) -> Result<LineReader> {
        Ok(LineReader::new(self.inputs(tool)?, self.max_line_bytes))
    }

    /// The reject policy `--rejects` asks for: fail fast without it.
    pub fn rejects(&self) -> Result<Rejects> {
        Rejects::new(self.rejects.as_deref())
    }

    /// Ends a run: moves the rejects file into place, prints the summary
    /// line, and fails if rows were rejected.
    pub fn finish(&self, tool: &Tool, mut tally: Tally, rejects: Rejects) -> Result<()> {
        tally.rejected = rejects.finish()?;
        tool.note(&tally.summary());
        debug_assert!(tally.balanced(), "rows unaccounted for: {tally:?}");
        rejected_error(tally.rejected, self.rejects.as_deref())
    }
}

/// A running tool: its name, for every message, and whether to be quiet.
#[derive(Clone, Debug)]
pub struct Tool {
    /// The tool's name, the prefix of every message.
    pub name: &'static str,
    /// Whether `--quiet` silenced [`Tool::note`].
    pub quiet: bool,
}

impl Tool {
    /// A tool named `name`, not quiet.
    pub fn new(name: &'static str) -> Self {
        Tool { name, quiet: false }
    }

    /// An informational message (silenced by `--quiet`).
    pub fn note(&self, message: &str) {
        if !self.quiet {
            self.say(message);
        }
    }

    /// A message printed even under `--quiet` (failed checks, errors).
    pub fn say(&self, message: &str) {
        // stderr may itself be closed; there is nowhere left to complain then.
        let _ = writeln!(std::io::stderr().lock(), "{}: {message}", self.name);
    }
}

/// A tool's command line: the one entry point every tool exposes (as each
/// uutils utility exposes `uumain`). clap parses it; it says whether
/// `--quiet` was given, and runs the tool.
pub trait Command: clap::Parser {
    /// `--quiet`: no messages and no progress bar on stderr.
    fn quiet(&self) -> bool;

    /// Runs the tool on its parsed command line.
    fn run(self, tool: &mut Tool) -> Result<()>;
}

/// Implements [`Command`] for a tool's `Cli` in one line: the path of its
/// `--quiet` field and the function that runs it.
///
/// `refinery_core::impl_command!(Cli, common.messages.quiet, run);`
#[macro_export]
macro_rules! impl_command {
    ($cli:ty, $($quiet:ident).+, $run:path) => {
        impl $crate::Command for $cli {
            fn quiet(&self) -> bool {
                self.$($quiet).+
            }

            fn run(self, tool: &mut $crate::Tool) -> $crate::Result<()> {
                $run(self, tool)
            }
        }
    };
}

/// Parses `C` from `args` (clap prints `--help` and usage errors itself and
/// exits 2), runs it under the name its `#[command(name)]` gives, and turns
/// the result into an exit status: errors are printed as `tool: message`,
/// a closed stdout ends quietly with 0.
pub fn run_command<C, I, T>(args: I) -> ExitCode
where
    C: Command,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    tune_allocator();
    let cli = C::parse_from(args);
    // One name per process, for every message it prints.
    let name: &'static str = Box::leak(C::command().get_name().to_owned().into_boxed_str());
    let mut tool = Tool {
        name,
        quiet: cli.quiet(),
    };
    match cli.run(&mut tool) {
        Ok(()) | Err(Error::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            tool.say(&e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

/// The allocator every tool uses: the tools allocate many small strings per
/// row, where mimalloc is markedly faster than the system allocator.
pub use mimalloc::MiMalloc as Allocator;

/// The tools are short batch processes that grow to their working set and
/// exit: returning freed memory to the OS only to fault it back in cost
/// stratify-split 40% of its time (system time on page faults). So: never
/// purge (but see [`purge_freed`]), and use large OS pages where the system
/// offers them. Every tool calls it first (`run_command`).
pub fn tune_allocator() {
    // Option number from mimalloc.h (v2 and v3 alike).
    const ALLOW_LARGE_OS_PAGES: libmimalloc_sys::mi_option_t = 6;
    set_purge_delay(-1);
    // SAFETY: a plain option setter, called before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set_enabled(ALLOW_LARGE_OS_PAGES, true) };
}

/// While alive, memory the tool frees goes back to the OS at once (purging
/// is otherwise off for the whole run, see `tune_allocator`); on drop the
/// pages left empty are handed back too and the purge delay is restored.
/// For a burst of short-lived allocations before something large: parsing a
/// tokenizer's JSON frees about 65 MB (SmolLM2's 49k tokens) to 470 MB
/// (Gemma 3's 262k), which would otherwise stay under the model's weights
/// and raise the process's peak memory by as much. mimalloc only schedules
/// a purge at the moment memory is freed, hence a scope and not a call
/// afterwards. Frees on other threads during the scope are purged too.
/// Does nothing when the allocator is not mimalloc (unit tests), nor for
/// memory in huge pages the system reserves (`/proc/sys/vm/nr_hugepages`
/// above 0, which `tune_allocator`'s large OS pages then use): mimalloc
/// never purges those.
#[must_use = "purging stops when the guard is dropped"]
pub struct PurgeFreed {
    delay: std::os::raw::c_long,
}

/// Starts a [`PurgeFreed`] scope.
pub fn purge_freed() -> PurgeFreed {
    // SAFETY: a plain option getter.
    let delay = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
    set_purge_delay(0);
    PurgeFreed { delay }
}

impl Drop for PurgeFreed {
    fn drop(&mut self) {
        // SAFETY: collects this thread's heap; mimalloc allows it at any time.
        unsafe { libmimalloc_sys::mi_collect(true) };
        set_purge_delay(self.delay);
    }
}

/// mimalloc's option number for the purge delay (mimalloc.h, v2 and v3
/// alike).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's purge delay, in milliseconds: 0 purges freed memory at once,
/// -1 never.
fn set_purge_delay(milliseconds: std::os::raw::c_long) {
    // SAFETY: a plain option setter; mimalloc reads it at each free.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, milliseconds) };
}

/// Generates a tool's `main` from its command line type:
/// `refinery_core::tool_main!(refinery_stats::Cli);`
#[macro_export]
macro_rules! tool_main {
    ($cli:path) => {
        #[global_allocator]
        static ALLOCATOR: $crate::cli::Allocator = $crate::cli::Allocator;

        fn main() -> ::std::process::ExitCode {
            $crate::cli::run_command::<$cli, _, _>(::std::env::args_os())
        }
    };
}
