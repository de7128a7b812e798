//! The one error type every tool returns, and how it maps to an exit status.
//!
//! Exit statuses (README, "Conventions every tool follows"): 0 success, 1 bad data or a failed check,
//! 2 a usage or I/O error. A closed stdout is not an error for a filter: the
//! reader downstream (`head`) has what it wanted, so it maps to 0.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Where a record came from: the input's name (`<stdin>` for standard input)
/// and its 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file (or `<stdin>`) the line came from.
    pub source: Arc<str>,
    /// The line number, from 1.
    pub line: u64,
}

impl Location {
    /// Line `line` (1-based) of the file at `path`.
    pub fn in_file(path: &std::path::Path, line: u64) -> Location {
        Location {
            source: Arc::from(path.display().to_string()),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.line)
    }
}

/// Every way a tool can fail, each mapped to its exit status by
/// [`Error::exit_code`]: 2 for usage, files and configuration, 1 for data
/// and checks, 0 for a closed pipe.
#[derive(Debug)]
pub enum Error {
    /// The command line or a flag value is wrong (exit 2).
    Usage(String),
    /// A file could not be opened, read or written (exit 2).
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: io::Error,
    },
    /// A config file (thresholds, targets, mapping) is malformed (exit 2).
    Config {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// An input line is bad (exit 1).
    Data {
        /// The file and line.
        location: Location,
        /// What is wrong with it.
        message: String,
    },
    /// The data is well-formed but a check failed: invalid rows, failed gates,
    /// rows rejected under `--rejects` (exit 1). The details were already
    /// reported; this carries the one-line conclusion.
    Check(String),
    /// stdout was closed by the reader; end quietly (exit 0).
    BrokenPipe,
}

/// The result every fallible function of the tools returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit status: 2 usage/file/config, 1 data/check, 0 closed pipe.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::BrokenPipe => 0,
            Error::Data { .. } | Error::Check(_) => 1,
            Error::Usage(_) | Error::Io { .. } | Error::Config { .. } => 2,
        }
    }

    /// A usage error (exit 2): the command line is wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// A usage error about one option's value: `--flag: what is wrong`.
    pub fn flag(flag: &str, e: impl std::fmt::Display) -> Self {
        Error::Usage(format!("{flag}: {e}"))
    }

    /// A bad input line at `location` (exit 1).
    pub fn data(location: Location, message: impl Into<String>) -> Self {
        Error::Data {
            location,
            message: message.into(),
        }
    }

    /// A malformed config file at `path` (exit 2).
    pub fn config(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Config {
            path: path.as_ref().display().to_string(),
            message: message.into(),
        }
    }

    /// Wraps an I/O error on `path`; a broken pipe becomes [`Error::BrokenPipe`].
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::BrokenPipe {
            return Error::BrokenPipe;
        }
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// An I/O error on stdout.
    pub fn stdout(source: io::Error) -> Self {
        Error::io("<stdout>", source)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::Io { path, source } => write!(f, "{path}: {source}"),
            Error::Config { path, message } => write!(f, "{path}: {message}"),
            Error::Data { location, message } => write!(f, "{location}: {message}"),
            Error::Check(m) => write!(f, "{m}"),
            Error::BrokenPipe => write!(f, "broken pipe"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_design() {
        let loc = Location {
            source: "a.jsonl".into(),
            line: 3,
        };
        assert_eq!(Error::data(loc.clone(), "x").exit_code(), 1);
        assert_eq!(Error::Check("x".into()).exit_code(), 1);
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::config("f.json", "x").exit_code(), 2);
        assert_eq!(
            Error::io("f", io::Error::new(io::ErrorKind::NotFound, "gone")).exit_code(),
            2
        );
        assert_eq!(
            Error::stdout(io::Error::new(io::ErrorKind::BrokenPipe, "pipe")).exit_code(),
            0
        );
        assert_eq!(
            Error::data(loc, "bad json").to_string(),
            "a.jsonl:3: bad json"
        );
    }
}
