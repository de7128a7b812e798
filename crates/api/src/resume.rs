//! `--resume FILE`: a paid run that is interrupted loses nothing and pays
//! nothing twice.
//!
//! Every row the API backend writes carries `input_hash`, a hash of the
//! input line and of every setting that changes the answer. With `--resume`
//! the output goes to FILE: rows already in it whose hash matches an input
//! row (and which did not fail) are reused without a request; each new row
//! is appended and flushed as soon as it is done, so a killed run keeps it;
//! at the end FILE is rewritten atomically with the rows in input order. A
//! half-written last line (the kill came mid-write) is dropped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use refinery_core::error::Location;
use refinery_core::writer::{JsonlFile, JsonlWriter};
use refinery_core::{Error, Result};
use serde_json::Value;
use xxhash_rust::xxh3::Xxh3;

/// The field holding a row's hash.
pub const HASH_FIELD: &str = "input_hash";

/// The hash of one row's request: its input line, the settings that shape
/// the answer, and which of several answers (rollout) it is.
pub fn input_hash(settings: &str, line: &[u8], rollout: u32) -> String {
    let mut h = Xxh3::new();
    h.update(settings.as_bytes());
    h.update(&[0]);
    h.update(line);
    h.update(&rollout.to_le_bytes());
    format!("{:032x}", h.digest128())
}

/// The `--resume` journal: rows finished by earlier runs, by `input_hash`,
/// and the file new rows are appended to at once.
pub struct Journal {
    path: PathBuf,
    done: HashMap<String, Vec<u8>>,
    file: File,
    /// Rows of the old file not yet reused.
    pub old_rows: u64,
    /// Rows reused so far.
    pub reused: u64,
    /// A half-written last line was dropped.
    pub cut_line: bool,
}

impl Journal {
    /// Reads FILE (if any); `finished` says whether an old row is a result
    /// to keep (a failed request is asked again).
    pub fn open(path: &Path, finished: impl Fn(&Value) -> bool) -> Result<Journal> {
        let mut done = HashMap::new();
        let (mut old_rows, mut keep_bytes, mut cut_line) = (0, 0u64, false);
        if path.exists() {
            let reader = BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
            let source: std::sync::Arc<str> = path.display().to_string().into();
            for (n, line) in reader.split(b'\n').enumerate() {
                let line = line.map_err(|e| Error::io(path, e))?;
                let at = Location {
                    source: source.clone(),
                    line: n as u64 + 1,
                };
                let row: Value = match serde_json::from_slice(&line) {
                    Ok(row) => row,
                    Err(_) if is_last_unterminated(path, keep_bytes, &line)? => {
                        cut_line = true;
                        break;
                    }
                    Err(e) => {
                        return Err(Error::data(
                            at,
                            format!(
                                "not JSON ({e}); --resume FILE takes the output of an earlier run"
                            ),
                        ))
                    }
                };
                keep_bytes += line.len() as u64 + 1;
                let Some(hash) = row[HASH_FIELD].as_str() else {
                    return Err(Error::data(
                        at,
                        format!("no `{HASH_FIELD}`: --resume FILE takes the output of an earlier run with --backend openai"),
                    ));
                };
                if finished(&row) && !done.contains_key(hash) {
                    done.insert(hash.to_string(), line);
                    old_rows += 1;
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        if cut_line {
            file.set_len(keep_bytes).map_err(|e| Error::io(path, e))?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            done,
            file,
            old_rows,
            reused: 0,
            cut_line,
        })
    }

    /// The old row with this hash, if there is one to reuse.
    pub fn take(&mut self, hash: &str) -> Option<Vec<u8>> {
        let line = self.done.remove(hash)?;
        self.reused += 1;
        Some(line)
    }

    /// Appends a new row at once, so a kill after this keeps it.
    pub fn record(&mut self, line: &[u8]) -> Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        self.file
            .write_all(&buf)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Rewrites FILE with exactly `lines`, in this order. Returns how many
    /// old rows matched no input row (they are not in the new file).
    pub fn finish(self, lines: &[Vec<u8>]) -> Result<u64> {
        drop(self.file);
        let mut out = JsonlFile::create(&self.path)?;
        for line in lines {
            out.write_raw_line(line)?;
        }
        out.commit()?;
        Ok(self.done.len() as u64)
    }
}

/// Where finished rows go: stdout as they come, or, with `--resume`, the
/// journal (appended at once) and then FILE in input order.
pub enum Output {
    /// rows straight to standard output
    Stdout(JsonlWriter<std::io::Stdout>),
    /// rows to the journal, then to FILE in input order
    Resume {
        /// the rows finished so far, this run's and earlier ones
        journal: Journal,
        /// the lines to write, in input order
        lines: Vec<Vec<u8>>,
    },
}

impl Output {
    /// Standard output, or the journal at `resume` (`finished` says which of
    /// its rows need not be asked again).
    pub fn open(resume: Option<&Path>, finished: impl Fn(&Value) -> bool) -> Result<Output> {
        Ok(match resume {
            None => Output::Stdout(JsonlWriter::stdout()),
            Some(path) => Output::Resume {
                journal: Journal::open(path, finished)?,
                lines: Vec::new(),
            },
        })
    }

    /// The finished row an earlier run wrote for this hash.
    pub fn reusable(&mut self, hash: &str) -> Option<Vec<u8>> {
        match self {
            Output::Stdout(_) => None,
            Output::Resume { journal, .. } => journal.take(hash),
        }
    }

    /// Appends a finished row to the journal only (for tools that write
    /// their rows at the end, after every row is done).
    pub fn record(&mut self, line: &[u8]) -> Result<()> {
        match self {
            Output::Stdout(_) => Ok(()),
            Output::Resume { journal, .. } => journal.record(line),
        }
    }

    /// Writes a row; `new` rows are also appended to the journal at once.
    pub fn write(&mut self, line: Vec<u8>, new: bool) -> Result<()> {
        match self {
            Output::Stdout(out) => out.write_raw_line(&line),
            Output::Resume { journal, lines } => {
                if new {
                    journal.record(&line)?;
                }
                lines.push(line);
                Ok(())
            }
        }
    }

    /// Flushes stdout, or writes FILE in order; the message for stderr.
    pub fn finish(self) -> Result<Option<String>> {
        match self {
            Output::Stdout(mut out) => {
                out.flush()?;
                Ok(None)
            }
            Output::Resume { journal, lines } => {
                let (reused, path) = (journal.reused, journal.path.clone());
                let cut = journal.cut_line;
                let stale = journal.finish(&lines)?;
                let mut note = format!(
                    "resume: {} rows in {}, {reused} reused from the earlier run, {} new",
                    lines.len(),
                    path.display(),
                    lines.len() as u64 - reused
                );
                if stale > 0 {
                    note.push_str(&format!("; {stale} earlier rows matched no input row (input or settings changed) and were left out"));
                }
                if cut {
                    note.push_str("; a half-written last line was dropped");
                }
                Ok(Some(note))
            }
        }
    }
}

/// Whether `line` is the file's last line and has no newline after it.
fn is_last_unterminated(path: &Path, offset: u64, line: &[u8]) -> Result<bool> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    Ok(offset + line.len() as u64 == len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_line_settings_and_rollout() {
        let a = input_hash("m=x", b"{\"prompt\":\"a\"}", 0);
        assert_eq!(a.len(), 32);
        assert_eq!(a, input_hash("m=x", b"{\"prompt\":\"a\"}", 0));
        assert_ne!(a, input_hash("m=y", b"{\"prompt\":\"a\"}", 0));
        assert_ne!(a, input_hash("m=x", b"{\"prompt\":\"b\"}", 0));
        assert_ne!(a, input_hash("m=x", b"{\"prompt\":\"a\"}", 1));
    }

    #[test]
    fn reuses_finished_rows_drops_a_cut_line_and_rewrites_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(
            &path,
            "{\"input_hash\":\"b\",\"ok\":true}\n{\"input_hash\":\"x\",\"ok\":false}\n{\"input_hash\":\"a\",\"ok\":tr",
        )
        .unwrap();
        let mut j = Journal::open(&path, |row| row["ok"] == true).unwrap();
        assert!(j.cut_line);
        assert_eq!(j.old_rows, 1);
        assert!(j.take("x").is_none(), "a failed row is asked again");
        let b = j.take("b").unwrap();
        j.record(b"{\"input_hash\":\"a\",\"ok\":true}").unwrap();
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(
            on_disk.ends_with("{\"input_hash\":\"a\",\"ok\":true}\n"),
            "{on_disk}"
        );
        assert!(!on_disk.contains("tr\n"));
        let stale = j
            .finish(&[b"{\"input_hash\":\"a\",\"ok\":true}".to_vec(), b])
            .unwrap();
        assert_eq!(stale, 0);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"input_hash\":\"a\",\"ok\":true}\n{\"input_hash\":\"b\",\"ok\":true}\n"
        );
    }

    #[test]
    fn a_file_from_elsewhere_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "{\"prompt\":\"a\"}\n").unwrap();
        let e = Journal::open(&path, |_| true).err().unwrap().to_string();
        assert!(e.contains("out.jsonl:1: no `input_hash`"), "{e}");
    }
}
