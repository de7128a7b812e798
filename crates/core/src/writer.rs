//! Buffered JSONL output. Every write maps a closed pipe to
//! [`Error::BrokenPipe`], which the runner turns into a quiet exit 0.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::record::Row;
use crate::scan::needs_escape;

const WRITE_BUFFER_BYTES: usize = 128 * 1024;

/// Writes records, one per line, to stdout or a file.
pub struct JsonlWriter<W: Write> {
    out: BufWriter<W>,
    name: String,
}

impl JsonlWriter<io::Stdout> {
    /// A writer to standard output.
    pub fn stdout() -> Self {
        JsonlWriter::new("<stdout>", io::stdout())
    }
}

impl<W: Write> JsonlWriter<W> {
    /// A writer to `out`, named `name` in errors.
    pub fn new(name: impl Into<String>, out: W) -> Self {
        JsonlWriter {
            out: BufWriter::with_capacity(WRITE_BUFFER_BYTES, out),
            name: name.into(),
        }
    }

    fn fail(&self, e: io::Error) -> Error {
        Error::io(&self.name, e)
    }

    /// Writes a row as one line.
    pub fn write_row(&mut self, row: &Row) -> Result<()> {
        serde_json::to_writer(&mut self.out, row).map_err(|e| self.fail(e.into()))?;
        self.out.write_all(b"\n").map_err(|e| self.fail(e))
    }

    /// Writes any JSON value as one line.
    pub fn write_value(&mut self, value: &serde_json::Value) -> Result<()> {
        serde_json::to_writer(&mut self.out, value).map_err(|e| self.fail(e.into()))?;
        self.out.write_all(b"\n").map_err(|e| self.fail(e))
    }

    /// Writes a line exactly as it was read (a pass-through keeps its bytes).
    pub fn write_raw_line(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| self.fail(e))?;
        self.out.write_all(b"\n").map_err(|e| self.fail(e))
    }

    /// Writes text that is not a record (a report).
    pub fn write_text(&mut self, text: &str) -> Result<()> {
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| self.fail(e))
    }

    /// Flushes the buffer.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| self.fail(e))
    }

    /// Flushes and hands back the inner writer.
    pub fn into_inner(self) -> Result<W> {
        let name = self.name;
        self.out
            .into_inner()
            .map_err(|e| Error::io(&name, e.into_error()))
    }
}

/// A file written under a temporary name and renamed into place by
/// [`AtomicFile::commit`], so a killed run never leaves half a file. Dropped
/// without a commit, the temporary file is removed.
pub struct AtomicFile {
    file: Option<File>,
    /// the temporary name; `None` when writing straight to a device or FIFO
    temp: Option<PathBuf>,
    path: PathBuf,
}

impl AtomicFile {
    /// A temporary file beside `path`, renamed onto it by [`Self::commit`].
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        // `--rejects /dev/null` or a named pipe: renaming over it would
        // replace the device with a plain file (as root), so write through.
        let special = fs::metadata(&path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if special {
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            return Ok(AtomicFile {
                file: Some(file),
                temp: None,
                path,
            });
        }
        let mut temp = path.clone().into_os_string();
        temp.push(format!(".tmp-{}", std::process::id()));
        let temp = PathBuf::from(temp);
        let file = File::create(&temp).map_err(|e| Error::io(&path, e))?;
        Ok(AtomicFile {
            file: Some(file),
            temp: Some(temp),
            path,
        })
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        let mut file = self.file.take().expect("not yet committed");
        let Some(temp) = &self.temp else {
            return file.flush().map_err(|e| Error::io(&self.path, e));
        };
        file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        drop(file);
        fs::rename(temp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("not yet committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not yet committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let (Some(_), Some(temp)) = (self.file.take(), &self.temp) {
            let _ = fs::remove_file(temp);
        }
    }
}

/// A JSONL file written atomically.
pub type JsonlFile = JsonlWriter<AtomicFile>;

impl JsonlFile {
    /// A JSONL file written to a temporary beside `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let file = AtomicFile::create(path.as_ref())?;
        Ok(JsonlWriter::new(path.as_ref().display().to_string(), file))
    }

    /// Flushes and renames the file into place.
    pub fn commit(self) -> Result<()> {
        self.into_inner()?.commit()
    }
}

/// Writes `text` to `path` atomically.
pub fn write_file_atomically(path: impl AsRef<Path>, text: &str) -> Result<()> {
    let mut file = AtomicFile::create(path.as_ref())?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::io(path.as_ref(), e))?;
    file.commit()
}

/// Writes `,"name":value` pairs onto a row being built as bytes, for a tool
/// that copies most of a row through without parsing it. Names are the
/// tool's own (plain ASCII, no escaping needed) except where
/// [`FieldName::Escape`] says otherwise; values are the bytes serde_json
/// writes.
pub struct FieldWriter<'b>(pub &'b mut Vec<u8>);

/// A field name: one of the tool's own, or one from the input.
#[derive(Clone, Copy)]
pub enum FieldName<'a> {
    /// A name of the tool's own: written as it is.
    Own(&'a str),
    /// A name from the input: escaped as a JSON string.
    Escape(&'a str),
}

impl FieldWriter<'_> {
    /// `,"name":`
    pub fn name(&mut self, name: FieldName) {
        match name {
            FieldName::Own(n) => {
                self.0.extend_from_slice(b",\"");
                self.0.extend_from_slice(n.as_bytes());
                self.0.extend_from_slice(b"\":");
            }
            FieldName::Escape(n) => {
                self.0.push(b',');
                serde_json::to_writer(&mut self.0, n).expect("strings serialise");
                self.0.push(b':');
            }
        }
    }
    /// A value that is already JSON text.
    pub fn raw(&mut self, name: FieldName, raw: &[u8]) {
        self.name(name);
        self.0.extend_from_slice(raw);
    }
    /// A string value: copied between quotes when nothing in it needs an
    /// escape (the bytes serde_json would write), else through serde_json.
    pub fn string(&mut self, name: &str, v: &str) {
        if !needs_escape(v) {
            self.name(FieldName::Own(name));
            self.0.push(b'"');
            self.0.extend_from_slice(v.as_bytes());
            self.0.push(b'"');
        } else {
            self.value(name, v);
        }
    }
    /// Any value, through serde_json.
    pub fn value<T: serde::Serialize + ?Sized>(&mut self, name: &str, v: &T) {
        self.name(FieldName::Own(name));
        serde_json::to_writer(&mut self.0, v).expect("values serialise");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ClosedPipe;
    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
    }

    #[test]
    fn closed_pipe_is_a_quiet_success() {
        let mut w = JsonlWriter::new("<stdout>", ClosedPipe);
        w.write_raw_line(b"{}").unwrap();
        let err = w.flush().unwrap_err();
        assert!(matches!(err, Error::BrokenPipe));
        assert_eq!(err.exit_code(), 0);
    }

    /// `--rejects /dev/null` once replaced /dev/null with a plain file when
    /// run as root: a device or FIFO is written through, never renamed over.
    #[test]
    fn atomic_file_writes_through_a_fifo_and_leaves_it_a_fifo() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
        };
        let mut w = JsonlFile::create(&fifo).unwrap();
        w.write_raw_line(b"{\"a\":1}").unwrap();
        w.commit().unwrap();
        assert_eq!(reader.join().unwrap(), "{\"a\":1}\n");
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut w = JsonlFile::create(&path).unwrap();
        w.write_raw_line(b"{}").unwrap();
        w.flush().unwrap();
        assert!(!path.exists());
        w.commit().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n");

        let other = dir.path().join("dropped.jsonl");
        let w = JsonlFile::create(&other).unwrap();
        drop(w);
        assert!(!other.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for s in [
            "plain",
            "",
            "tab\there",
            "quote\"",
            "back\\slash",
            "é😀\u{7f}",
            "\u{1}",
        ] {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            FieldWriter(&mut fast).string("k", s);
            FieldWriter(&mut slow).value("k", s);
            assert_eq!(fast, slow, "{s:?}");
        }
    }
}
