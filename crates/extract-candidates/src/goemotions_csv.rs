//! The raw GoEmotions release (`goemotions_{1,2,3}.csv`): one row per rater,
//! one 0/1 column per label. Raters of the same comment are merged into one
//! message with the labels at least `min_agreement` raters gave.

use std::io::Read;

use refinery_core::goemotions::LABELS;
use refinery_core::record::Row;
use refinery_core::rejects::BadLine;
use refinery_core::{Error, Location, Result};
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::message::Message;
use crate::sources::Event;

const FIXED_COLUMNS: [&str; 9] = [
    "text",
    "id",
    "author",
    "subreddit",
    "link_id",
    "parent_id",
    "created_utc",
    "rater_id",
    "example_very_unclear",
];

/// What merging did with the rater rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvCounts {
    pub rater_rows: u64,
    /// rows folded into an earlier row of the same comment
    pub merged: u64,
    /// rows marked `example_very_unclear`
    pub unclear: u64,
    /// comments where no label reached the agreement threshold
    pub below_agreement: u64,
}

impl CsvCounts {
    pub fn add(&mut self, other: &CsvCounts) {
        self.rater_rows += other.rater_rows;
        self.merged += other.merged;
        self.unclear += other.unclear;
        self.below_agreement += other.below_agreement;
    }
}

struct Comment {
    location: Location,
    text: String,
    id: String,
    raters: u64,
    votes: [u64; 28],
}

/// A reader that remembers where each newline is, so a record's byte
/// offset gives its physical line whatever the line ends. (The csv crate's
/// own line count puts every record of a CRLF file one line early.)
struct NewlineIndex<R> {
    inner: R,
    read: u64,
    newlines: Vec<u64>,
}

impl<R: Read> NewlineIndex<R> {
    fn new(inner: R) -> Self {
        NewlineIndex {
            inner,
            read: 0,
            newlines: Vec::new(),
        }
    }

    /// The 1-based physical line holding the record that starts at `byte`.
    /// A record of a CRLF file is reported as starting at the `\n` that
    /// ends the line before it: that newline counts as passed.
    fn line_at(&self, byte: u64) -> u64 {
        1 + self.newlines.partition_point(|&at| at <= byte) as u64
    }
}

impl<R: Read> Read for NewlineIndex<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = self.read;
        self.newlines
            .extend(memchr::memchr_iter(b'\n', &buf[..n]).map(|i| start + i as u64));
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads one raw CSV and hands merged comments to `sink`, in the order the
/// comments first appear. Rows that cannot be read go to `sink` as bad.
pub fn read_goemotions_csv(
    name: &str,
    input: impl Read,
    min_agreement: u64,
    sink: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<CsvCounts> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(NewlineIndex::new(input));
    let headers = csv
        .byte_headers()
        .map_err(|e| Error::io(name, std::io::Error::other(e.to_string())))?
        .clone();
    let label_columns = check_header(name, &headers)?;
    let mut counts = CsvCounts::default();
    let mut order: Vec<String> = Vec::new();
    let mut comments: FxHashMap<String, Comment> = FxHashMap::default();
    let mut record = csv::ByteRecord::new();
    loop {
        let read = csv.read_byte_record(&mut record);
        let line = record
            .position()
            .map_or(0, |p| csv.get_ref().line_at(p.byte()));
        let location = Location {
            source: name.into(),
            line,
        };
        match read {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e
                    .position()
                    .map_or(line, |p| csv.get_ref().line_at(p.byte()));
                sink(Event::Bad(BadLine {
                    location: Location {
                        source: name.into(),
                        line,
                    },
                    reason: format!("unreadable CSV: {e}"),
                    raw: Vec::new(),
                }))?;
                counts.rater_rows += 1;
                continue;
            }
        }
        counts.rater_rows += 1;
        match rater_row(&record, &label_columns) {
            Err(reason) => sink(Event::Bad(BadLine {
                location,
                reason,
                raw: record.as_slice().to_vec(),
            }))?,
            Ok(None) => counts.unclear += 1,
            Ok(Some((text, id, votes))) => match comments.get_mut(&id) {
                Some(c) => {
                    counts.merged += 1;
                    c.raters += 1;
                    c.votes.iter_mut().zip(votes).for_each(|(a, b)| *a += b);
                }
                None => {
                    order.push(id.clone());
                    comments.insert(
                        id.clone(),
                        Comment {
                            location,
                            text,
                            id,
                            raters: 1,
                            votes,
                        },
                    );
                }
            },
        }
    }
    for id in order {
        let c = comments.remove(&id).expect("every ordered id was inserted");
        match comment_message(c, min_agreement) {
            Some(m) => sink(Event::Message(Box::new(m)))?,
            None => counts.below_agreement += 1,
        }
    }
    Ok(counts)
}

/// The column of each label, checked against the release's header.
fn check_header(name: &str, headers: &csv::ByteRecord) -> Result<Vec<usize>> {
    let cols: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let missing: Vec<&str> = FIXED_COLUMNS
        .iter()
        .chain(LABELS.iter())
        .filter(|c| !cols.iter().any(|h| h == *c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(Error::data(
            Location {
                source: name.into(),
                line: 1,
            },
            format!(
                "not a raw GoEmotions CSV: the header lacks {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(LABELS
        .iter()
        .map(|l| cols.iter().position(|h| h == l).expect("checked"))
        .collect())
}

type Votes = [u64; 28];

/// A rater row's text, comment id and votes; `None` when marked unclear.
fn rater_row(
    record: &csv::ByteRecord,
    label_columns: &[usize],
) -> Result<Option<(String, String, Votes)>, String> {
    let field = |i: usize| -> Result<&str, String> {
        let bytes = record
            .get(i)
            .ok_or_else(|| format!("row has {} fields, the header more", record.len()))?;
        std::str::from_utf8(bytes).map_err(|_| format!("column {} is not valid UTF-8", i + 1))
    };
    let unclear = field(8)?.trim();
    if unclear.eq_ignore_ascii_case("true") || unclear == "1" {
        return Ok(None);
    }
    let mut votes = [0u64; 28];
    for (label, &col) in label_columns.iter().enumerate() {
        votes[label] = match field(col)?.trim() {
            "1" => 1,
            "0" | "" => 0,
            other => {
                return Err(format!(
                    "{}: expected 0 or 1, found {other:?}",
                    LABELS[label]
                ))
            }
        };
    }
    Ok(Some((
        field(0)?.to_string(),
        field(1)?.trim().to_string(),
        votes,
    )))
}

fn comment_message(c: Comment, min_agreement: u64) -> Option<Message> {
    let emotions: Vec<Value> = LABELS
        .iter()
        .zip(c.votes)
        .filter(|(_, n)| *n >= min_agreement.max(1))
        .map(|(l, _)| Value::from(*l))
        .collect();
    if emotions.is_empty() {
        return None;
    }
    let mut raters = Map::new();
    for (l, n) in LABELS.iter().zip(c.votes).filter(|(_, n)| *n > 0) {
        raters.insert(l.to_string(), n.into());
    }
    let mut predictions = Row::new();
    predictions.insert("emotions".into(), emotions.into());
    predictions.insert("emotion_raters".into(), Value::Object(raters));
    predictions.insert("raters".into(), c.raters.into());
    Some(Message {
        location: c.location,
        text: c.text,
        session: None,
        role: None,
        id: Some(Value::String(c.id)),
        timestamp: None,
        turn: None,
        predictions,
    })
}
