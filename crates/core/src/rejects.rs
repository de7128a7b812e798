//! The reject policy and the row accounting every tool reports.
//!
//! By default the first bad line stops the tool (exit 1, `file:line: why`).
//! With `--rejects FILE` each bad line goes to FILE as
//! `{"file", "line", "reason", "raw"}` and the tool keeps going, exiting 1 at
//! the end if anything was rejected. Either way nothing is dropped silently:
//! rows read = written + filtered + rejected.

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Location, Result};
use crate::reader::{too_long_reason, Input, LineReader, RawLine, DEFAULT_MAX_LINE_BYTES};
use crate::record::{parse_row, Row};
use crate::writer::JsonlFile;

/// A bad line found on a worker thread, kept until the reject policy sees it
/// in input order.
#[derive(Clone, Debug)]
pub struct BadLine {
    /// Where the line is.
    pub location: Location,
    /// Why it is bad.
    pub reason: String,
    /// The line as read.
    pub raw: Vec<u8>,
}

/// Where bad lines go.
pub struct Rejects {
    sink: Option<JsonlFile>,
    keep_going: bool,
    count: u64,
}

impl Rejects {
    /// Stop at the first bad line.
    pub fn fail_fast() -> Self {
        Rejects {
            sink: None,
            keep_going: false,
            count: 0,
        }
    }

    /// Keep going and only count (a checker such as `validate` reports every
    /// bad row itself and fails at the end).
    pub fn count_only() -> Self {
        Rejects {
            sink: None,
            keep_going: true,
            count: 0,
        }
    }

    /// Keep going, writing bad lines to `path` (atomically, at the end).
    pub fn to_file(path: &Path) -> Result<Self> {
        Ok(Rejects {
            sink: Some(JsonlFile::create(path)?),
            keep_going: true,
            count: 0,
        })
    }

    /// Fail fast without `path`; with it, keep going and write bad lines there.
    pub fn new(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) => Rejects::to_file(p),
            None => Ok(Rejects::fail_fast()),
        }
    }

    /// Whether bad lines are recorded rather than fatal.
    pub fn keeps_going(&self) -> bool {
        self.keep_going
    }

    /// Lines rejected so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The line parsed whole, or `None` once it has been rejected (longer
    /// than the cap, or not a JSON object).
    pub fn parse_or_reject(
        &mut self,
        line: &RawLine<'_>,
        max_line_bytes: usize,
    ) -> Result<Option<Row>> {
        if let Some(len) = line.too_long {
            self.reject(
                &line.location,
                &too_long_reason(len, max_line_bytes),
                line.bytes,
            )?;
            return Ok(None);
        }
        match parse_row(line.bytes) {
            Ok(row) => Ok(Some(row)),
            Err(e) => {
                self.reject(&line.location, &e.0, line.bytes)?;
                Ok(None)
            }
        }
    }

    /// Rejects a line: an error when failing fast, a record in the rejects
    /// file otherwise.
    pub fn reject(&mut self, location: &Location, reason: &str, raw: &[u8]) -> Result<()> {
        self.reject_with(location, &[reason.to_string()], raw)
    }

    /// Rejects a line for several reasons at once (a row with many bad fields).
    pub fn reject_with(
        &mut self,
        location: &Location,
        reasons: &[String],
        raw: &[u8],
    ) -> Result<()> {
        if !self.keep_going {
            return Err(Error::data(location.clone(), reasons.join("; ")));
        }
        self.count += 1;
        let Some(sink) = self.sink.as_mut() else {
            return Ok(());
        };
        let record = json!({
            "file": &*location.source,
            "line": location.line,
            "reason": reasons.join("; "),
            "raw": String::from_utf8_lossy(raw),
        });
        sink.write_value(&record)
    }

    /// Rejects a line a worker found bad.
    pub fn reject_bad(&mut self, bad: &BadLine) -> Result<()> {
        self.reject(&bad.location, &bad.reason, &bad.raw)
    }

    /// Moves the rejects file into place. Returns how many lines were rejected.
    pub fn finish(self) -> Result<u64> {
        if let Some(sink) = self.sink {
            sink.commit()?;
        }
        Ok(self.count)
    }
}

/// Every row `reader` gives, with its place, for a tool that needs them
/// all at once; a bad line goes to `rejects` (an error when failing fast).
pub fn read_rows(reader: &mut LineReader, rejects: &mut Rejects) -> Result<Vec<(Location, Row)>> {
    let (mut rows, max_line_bytes) = (Vec::new(), reader.max_line_bytes());
    while let Some(line) = reader.next_line()? {
        if let Some(row) = rejects.parse_or_reject(&line, max_line_bytes)? {
            rows.push((line.location, row));
        }
    }
    Ok(rows)
}

/// Every row of a JSONL file with its place; the first bad line is an
/// error naming it (for a file a tool loads whole, like a dataset to count).
pub fn read_file_rows(path: &Path) -> Result<Vec<(Location, Row)>> {
    let mut reader = LineReader::new(
        vec![Input::File(path.to_path_buf())],
        DEFAULT_MAX_LINE_BYTES,
    );
    read_rows(&mut reader, &mut Rejects::fail_fast())
}

/// Rows in and where they went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Lines read (rows, not blank lines).
    pub read: u64,
    /// Rows written.
    pub written: u64,
    /// Rows left out on purpose (`--where`, selection, duplicates).
    pub filtered: u64,
    /// Bad lines rejected.
    pub rejected: u64,
    /// Blank lines skipped (not rows).
    pub blank: u64,
}

impl Tally {
    /// The one summary line every tool prints (without the tool's name).
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} read, {} written, {} filtered, {} rejected",
            self.read, self.written, self.filtered, self.rejected
        );
        if self.blank > 0 {
            s.push_str(&format!(" ({} blank lines skipped)", self.blank));
        }
        s
    }

    /// Whether every row read is accounted for.
    pub fn balanced(&self) -> bool {
        self.read == self.written + self.filtered + self.rejected
    }

    /// The counts as JSON, for reports.
    pub fn to_json(&self) -> Value {
        json!({
            "read": self.read,
            "written": self.written,
            "filtered": self.filtered,
            "rejected": self.rejected,
            "blank_lines": self.blank,
        })
    }
}

/// The error a tool returns at the end when it kept going past bad rows.
pub fn rejected_error(rejected: u64, path: Option<&Path>) -> Result<()> {
    if rejected == 0 {
        return Ok(());
    }
    let rows = if rejected == 1 { "row" } else { "rows" };
    Err(Error::Check(match path {
        Some(p) => format!("{rejected} {rows} rejected (see {})", p.display()),
        None => format!("{rejected} {rows} rejected"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(line: u64) -> Location {
        Location {
            source: "in.jsonl".into(),
            line,
        }
    }

    #[test]
    fn fail_fast_names_the_line() {
        let mut r = Rejects::fail_fast();
        let err = r.reject(&loc(7), "invalid JSON", b"{").unwrap_err();
        assert_eq!(err.to_string(), "in.jsonl:7: invalid JSON");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn rejects_file_gets_one_record_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rej.jsonl");
        let mut r = Rejects::to_file(&path).unwrap();
        r.reject(&loc(2), "bad", b"{x").unwrap();
        r.reject_with(&loc(5), &["a".into(), "b".into()], b"[]")
            .unwrap();
        assert_eq!(r.finish().unwrap(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"file\":\"in.jsonl\",\"line\":2,\"reason\":\"bad\",\"raw\":\"{x\"}\n\
             {\"file\":\"in.jsonl\",\"line\":5,\"reason\":\"a; b\",\"raw\":\"[]\"}\n"
        );
        assert!(rejected_error(2, Some(&path)).is_err());
        assert!(rejected_error(0, Some(&path)).is_ok());
    }

    #[test]
    fn tally_summary() {
        let t = Tally {
            read: 10,
            written: 7,
            filtered: 2,
            rejected: 1,
            blank: 3,
        };
        assert!(t.balanced());
        assert_eq!(
            t.summary(),
            "10 read, 7 written, 2 filtered, 1 rejected (3 blank lines skipped)"
        );
    }
}
