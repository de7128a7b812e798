//! refinery-core: what every refinery tool shares.
//!
//! - [`reader`] reads JSONL lines from files or stdin, naming `file:line`;
//! - [`record`] parses a line into a record, whole or only the needed fields;
//! - [`writer`] writes JSONL to stdout or, atomically, to files;
//! - [`rejects`] is the reject policy and the read/written/filtered/rejected tally;
//! - [`expr`] is the row-predicate and aggregate-gate language;
//! - [`goemotions`] is the GoEmotions label set;
//! - [`text`] is the text normalisation behind duplicate detection;
//! - [`config`] loads the shipped thresholds and archetype targets;
//! - [`parallel`] maps chunks of lines on several threads, results in order;
//! - [`cli`] and [`progress`] are the plumbing every `main` uses;
//! - [`error`] is the one error type, mapped to exit statuses 0/1/2.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod error;
pub mod experiment;
pub mod expr;
pub mod goemotions;
pub mod parallel;
pub mod progress;
pub mod reader;
pub mod record;
pub mod rejects;
pub mod scan;
pub mod text;
pub mod trait_files;
pub mod writer;

pub use cli::{Command, CommonArgs, MessageArgs, Tool};
pub use error::{Error, Location, Result};
pub use record::Row;
pub use rejects::{Rejects, Tally};
