//! Streaming line reader over files or stdin that knows where every line came
//! from. It yields raw lines; turning a line into a record is `record`'s job,
//! so a tool can pass a line through untouched or parse only the fields it needs.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Location, Result};

/// The default cap on one line: far above any sane record, low enough that a
/// file with no newlines at all cannot take the machine's memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

const READ_BUFFER_BYTES: usize = 256 * 1024;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One input: standard input or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// standard input, named `<stdin>` in messages
    Stdin,
    /// a file, named by its path
    File(PathBuf),
    /// a file read under another name: standard input spooled to disk by a
    /// tool that reads its input twice, still reported as `<stdin>`
    Spooled {
        /// where the spooled bytes are
        path: PathBuf,
        /// the name messages use
        name: String,
    },
}

impl Input {
    /// The inputs named on a command line: none, or `-`, is stdin.
    pub fn from_args(files: &[PathBuf]) -> Vec<Input> {
        if files.is_empty() {
            return vec![Input::Stdin];
        }
        files
            .iter()
            .map(|f| {
                if f.as_os_str() == "-" {
                    Input::Stdin
                } else {
                    Input::File(f.clone())
                }
            })
            .collect()
    }

    /// The name used in messages: the path as given, or `<stdin>`.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
            Input::Spooled { name, .. } => name.clone(),
        }
    }

    fn open(&self) -> Result<Box<dyn BufRead + Send>> {
        match self {
            Input::Stdin => Ok(Box::new(BufReader::with_capacity(
                READ_BUFFER_BYTES,
                io::stdin(),
            ))),
            Input::File(path) | Input::Spooled { path, .. } => {
                let file = File::open(path).map_err(|e| Error::io(path, e))?;
                Ok(Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, file)))
            }
        }
    }

    /// The size of a file input, if it is one and it can be seen.
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Stdin => None,
            Input::File(p) | Input::Spooled { path: p, .. } => {
                std::fs::metadata(p).ok().map(|m| m.len())
            }
        }
    }
}

/// A line as read: where it is, its bytes without the line ending (and
/// without a BOM on a first line), and its full length when it was longer than
/// the cap (then `bytes` holds only the first `cap` bytes).
#[derive(Debug)]
pub struct RawLine<'a> {
    /// Where the line is.
    pub location: Location,
    /// The line without its end (`\
    /// ` or `\\r\
    /// `) and, on line 1, a BOM.
    pub bytes: &'a [u8],
    /// The line's full length when it was over the cap (`bytes` is cut).
    pub too_long: Option<usize>,
}

/// A line's place in the buffer: location, start, end, full length if cut.
type LineSpan = (Location, usize, usize, Option<usize>);

struct Open {
    name: Arc<str>,
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: u64,
}

/// Reads the lines of several inputs in order, skipping (and counting) blank
/// lines.
pub struct LineReader {
    pending: VecDeque<Input>,
    open: Option<Open>,
    max_line_bytes: usize,
    buf: Vec<u8>,
    blank_lines: u64,
    bytes_read: u64,
}

impl LineReader {
    /// A reader over `inputs` in order; a line over `max_line_bytes` is
    /// given cut, with its length in `too_long`.
    pub fn new(inputs: Vec<Input>, max_line_bytes: usize) -> Self {
        LineReader {
            pending: inputs.into(),
            open: None,
            max_line_bytes: max_line_bytes.max(1),
            buf: Vec::new(),
            blank_lines: 0,
            bytes_read: 0,
        }
    }

    /// Reads from any `Read` under the given name (for tests and in-memory data).
    pub fn from_reader(
        name: &str,
        reader: impl Read + Send + 'static,
        max_line_bytes: usize,
    ) -> Self {
        let mut r = LineReader::new(Vec::new(), max_line_bytes);
        r.open = Some(Open {
            name: name.into(),
            path: PathBuf::from(name),
            reader: Box::new(BufReader::new(reader)),
            line: 0,
        });
        r
    }

    /// The longest line given whole, in bytes (`--max-line-bytes`).
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Blank (empty or all white space) lines skipped so far.
    pub fn blank_lines(&self) -> u64 {
        self.blank_lines
    }

    /// Bytes consumed so far, over all inputs (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next non-blank line, or `None` at the end of the last input.
    pub fn next_line(&mut self) -> Result<Option<RawLine<'_>>> {
        let Some((location, start, end, too_long)) = self.advance()? else {
            return Ok(None);
        };
        Ok(Some(RawLine {
            location,
            bytes: &self.buf[start..end],
            too_long,
        }))
    }

    /// Reads up to the next non-blank line into `buf` and says which part of
    /// it is the line.
    fn advance(&mut self) -> Result<Option<LineSpan>> {
        loop {
            if self.open.is_none() {
                let Some(input) = self.pending.pop_front() else {
                    return Ok(None);
                };
                let path = match &input {
                    Input::File(p) => p.clone(),
                    Input::Stdin | Input::Spooled { .. } => PathBuf::from(input.name()),
                };
                self.open = Some(Open {
                    name: input.name().into(),
                    path,
                    reader: input.open()?,
                    line: 0,
                });
            }
            let open = self.open.as_mut().expect("an input is open");
            let read = read_capped_line(&mut open.reader, &mut self.buf, self.max_line_bytes)
                .map_err(|e| Error::io(&open.path, e))?;
            let Some((total, ending)) = read else {
                self.open = None;
                continue;
            };
            self.bytes_read += (total + ending) as u64;
            open.line += 1;
            let fits = total <= self.max_line_bytes;
            let mut start = 0;
            if open.line == 1 && self.buf.starts_with(UTF8_BOM) {
                start = UTF8_BOM.len();
            }
            let mut end = self.buf.len();
            if fits && end > start && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
            if fits && self.buf[start..end].iter().all(u8::is_ascii_whitespace) {
                self.blank_lines += 1;
                continue;
            }
            let location = Location {
                source: open.name.clone(),
                line: open.line,
            };
            return Ok(Some((location, start, end, (!fits).then_some(total))));
        }
    }
}

/// Reads one line into `buf`, keeping at most `cap` bytes of it. Returns the
/// line's full length without its ending and the ending's length (0 or 1), or
/// `None` at end of input.
fn read_capped_line(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Option<(usize, usize)>> {
    buf.clear();
    let mut total = 0usize;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any.then_some((total, 0)));
        }
        any = true;
        let newline = memchr::memchr(b'\n', available);
        let chunk = &available[..newline.unwrap_or(available.len())];
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        total += chunk.len();
        let consumed = newline.map_or(available.len(), |i| i + 1);
        reader.consume(consumed);
        if newline.is_some() {
            return Ok(Some((total, 1)));
        }
    }
}

/// Why a line over the cap is bad, in the words every tool uses.
pub fn too_long_reason(len: usize, cap: usize) -> String {
    format!("line is {len} bytes, over the --max-line-bytes cap of {cap}")
}

/// Total size of the inputs when every one is a file (for a progress bar).
pub fn total_size(inputs: &[Input]) -> Option<u64> {
    inputs.iter().map(Input::size).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = Vec<(u64, Vec<u8>, Option<usize>)>;

    fn lines(data: &'static [u8], cap: usize) -> (Seen, u64) {
        let mut r = LineReader::from_reader("t", data, cap);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push((l.location.line, l.bytes.to_vec(), l.too_long));
        }
        (out, r.blank_lines())
    }

    #[test]
    fn numbers_lines_from_one_and_skips_blanks() {
        let (got, blanks) = lines(b"{\"a\":1}\n\n   \n{\"b\":2}\n", 100);
        assert_eq!(blanks, 2);
        assert_eq!(got[0].0, 1);
        assert_eq!(got[1].0, 4);
        assert_eq!(got[1].1, b"{\"b\":2}");
    }

    #[test]
    fn accepts_missing_final_newline_crlf_and_bom() {
        let (got, _) = lines(b"\xEF\xBB\xBF{\"a\":1}\r\n{\"b\":2}", 100);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, b"{\"a\":1}");
        assert_eq!(got[1].1, b"{\"b\":2}");
    }

    #[test]
    fn bom_only_stripped_on_first_line() {
        let (got, _) = lines(b"{}\n\xEF\xBB\xBF{}\n", 100);
        assert_eq!(got[1].1, b"\xEF\xBB\xBF{}");
    }

    #[test]
    fn too_long_lines_are_flagged_and_the_next_line_is_intact() {
        let (got, _) = lines(b"{\"aaaaaaaaaaaaaaaa\":1}\n{}\n", 8);
        assert_eq!(got[0].2, Some(22));
        assert_eq!(got[0].1.len(), 8);
        assert_eq!(got[1].1, b"{}");
        assert_eq!(got[1].0, 2);
    }

    #[test]
    fn empty_input_has_no_lines() {
        let (got, blanks) = lines(b"", 8);
        assert!(got.is_empty());
        assert_eq!(blanks, 0);
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let mut r = LineReader::new(vec![Input::File("/nonexistent/x.jsonl".into())], 10);
        let err = r.next_line().unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().starts_with("/nonexistent/x.jsonl:"));
    }

    #[test]
    fn dash_means_stdin() {
        let inputs = Input::from_args(&["-".into(), "a".into()]);
        assert_eq!(inputs[0], Input::Stdin);
        assert_eq!(inputs[0].name(), "<stdin>");
        assert_eq!(Input::from_args(&[]), vec![Input::Stdin]);
    }
}
