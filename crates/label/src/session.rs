//! A labelling session: the candidates, the output file that every answer is
//! appended to at once (so a killed session loses nothing), resuming after
//! the last labelled candidate, undo, and progress toward the targets.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use refinery_core::config::Target;
use refinery_core::record::parse_row;
use refinery_core::rejects::read_file_rows;
use refinery_core::text::text_key;
use refinery_core::{Error, Location, Result, Row};

use crate::form::{Answer, Form, Key, Request};

/// Who labels, how, and the clock their answers are stamped with.
#[derive(Clone, Debug)]
pub struct Rater {
    pub name: String,
    /// RFC 3339 UTC time of an answer; fixed by SOURCE_DATE_EPOCH in tests
    pub clock: fn() -> String,
    /// Whether the rater sees the predicted and prior values (written to
    /// every row as `labelled_with_suggestions`: those labels may be anchored)
    pub suggestions: bool,
}

/// A labelled row: the candidate's fields, then the rater's.
pub fn labelled_row(candidate: &Row, answer: &Answer, rater: &Rater) -> Row {
    let mut row = candidate.clone();
    for (i, field) in ["valence", "intimacy", "tension", "confidence"]
        .iter()
        .enumerate()
    {
        row.insert(field.to_string(), Value::from(answer.numbers[i]));
    }
    let mut tags: Vec<String> = match candidate.get("tags") {
        Some(Value::Array(old)) => old
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    // a suggested archetype the rater changed must not linger as a tag
    if let Some(Value::String(suggested)) = candidate.get("archetype") {
        if answer.archetype.as_deref() != Some(suggested) {
            tags.retain(|t| t != suggested);
        }
    }
    for tag in answer.archetype.iter().chain(&answer.tags) {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    row.insert("tags".into(), Value::from(tags));
    row.insert(
        "archetype".into(),
        answer.archetype.clone().map_or(Value::Null, Value::from),
    );
    row.insert("labelled_by".into(), Value::from(rater.name.clone()));
    row.insert("labelled_at".into(), Value::from((rater.clock)()));
    row.insert(
        "labelled_with_suggestions".into(),
        Value::from(rater.suggestions),
    );
    row
}

/// The answer a labelled row holds, to put back in the form after an undo.
pub fn answer_of(row: &Row) -> Answer {
    let number = |f: &str| row.get(f).and_then(Value::as_f64).unwrap_or(0.0);
    let archetype = row
        .get("archetype")
        .and_then(Value::as_str)
        .map(str::to_string);
    Answer {
        numbers: [
            number("valence"),
            number("intimacy"),
            number("tension"),
            number("confidence"),
        ],
        archetype: archetype.clone(),
        tags: Vec::new(),
    }
}

/// One saved answer: which candidate, and where its line starts in the file.
struct Saved {
    candidate: Option<usize>,
    offset: u64,
    archetype: Option<String>,
}

pub struct Session {
    pub candidates: Vec<Row>,
    candidates_name: String,
    index_of_text: HashMap<u128, usize>,
    out_path: PathBuf,
    saved: Vec<Saved>,
    labelled: Vec<bool>,
    pub targets: Vec<Target>,
    counts: HashMap<String, u64>,
    counted_elsewhere: HashMap<String, u64>,
    /// the candidate on screen; `candidates.len()` when all are done
    pub position: usize,
    pub form: Form,
    rater: Rater,
    pub resumed: usize,
}

/// What a key did, for the screen.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Continue,
    Quit,
}

impl Session {
    /// Whether the rater sees predicted and prior values.
    pub fn shows_suggestions(&self) -> bool {
        self.rater.suggestions
    }

    /// Opens the candidates (those `assignment` gives this rater, when
    /// there is one) and the output, resuming after the last answer.
    pub fn open(
        mut located: Vec<(Location, Row)>,
        candidates_name: String,
        out: &Path,
        targets: Vec<Target>,
        rater: Rater,
        assignment: Option<&crate::assign::Assignment>,
    ) -> Result<Self> {
        if let Some(assignment) = assignment {
            located = assignment.keep(located);
        }
        let mut index_of_text = HashMap::new();
        for (i, (at, row)) in located.iter().enumerate() {
            let text = row.get("text").and_then(Value::as_str).ok_or_else(|| {
                Error::data(
                    at.clone(),
                    "text: missing (a candidate needs the text to label)",
                )
            })?;
            index_of_text.entry(text_key(text)).or_insert(i);
        }
        let rows: Vec<Row> = located.into_iter().map(|(_, row)| row).collect();
        let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
        let mut session = Session {
            labelled: vec![false; rows.len()],
            candidates: rows,
            candidates_name,
            index_of_text,
            out_path: out.to_path_buf(),
            saved: Vec::new(),
            targets,
            counts: HashMap::new(),
            counted_elsewhere: HashMap::new(),
            position: 0,
            form: Form::for_candidate(&Row::new(), &names, false),
            rater,
            resumed: 0,
        };
        session.read_earlier_answers()?;
        session.position = session
            .saved
            .iter()
            .rev()
            .find_map(|s| s.candidate)
            .map_or(0, |i| i + 1);
        session.resumed = session.saved.len();
        session.settle();
        Ok(session)
    }

    fn read_earlier_answers(&mut self) -> Result<()> {
        let bytes = match std::fs::read(&self.out_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&self.out_path, e)),
        };
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            return Err(Error::data(
                Location::in_file(&self.out_path, bytes.split(|&b| b == b'\n').count() as u64),
                "the last answer is cut short; remove that line and start again",
            ));
        }
        let mut offset = 0u64;
        for (n, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            let row = parse_row(line.trim_ascii_end())
                .map_err(|e| Error::data(Location::in_file(&self.out_path, n as u64 + 1), e.0))?;
            let candidate = row
                .get("text")
                .and_then(Value::as_str)
                .and_then(|t| self.index_of_text.get(&text_key(t)).copied());
            self.remember(candidate, offset, &row);
            offset += line.len() as u64;
        }
        Ok(())
    }

    fn remember(&mut self, candidate: Option<usize>, offset: u64, row: &Row) {
        let archetype = row
            .get("archetype")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(a) = &archetype {
            *self.counts.entry(a.clone()).or_default() += 1;
        }
        if let Some(i) = candidate {
            self.labelled[i] = true;
        }
        self.saved.push(Saved {
            candidate,
            offset,
            archetype,
        });
    }

    /// Moves past labelled candidates and sets up the form for the next one.
    fn settle(&mut self) {
        while self.position < self.candidates.len() && self.labelled[self.position] {
            self.position += 1;
        }
        let names = self.names();
        let empty = Row::new();
        let row = self.candidates.get(self.position).unwrap_or(&empty);
        self.form = Form::for_candidate(row, &names, self.rater.suggestions);
    }

    pub fn names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.name.clone()).collect()
    }

    pub fn done(&self) -> bool {
        self.position >= self.candidates.len()
    }

    pub fn labelled_count(&self) -> usize {
        self.saved.len()
    }

    pub fn count_of(&self, archetype: &str) -> u64 {
        self.counts.get(archetype).copied().unwrap_or(0)
            + self.counted_elsewhere.get(archetype).copied().unwrap_or(0)
    }

    /// Counts the labelled rows of other datasets toward the targets too,
    /// by their `archetype` field, as `stats` does.
    pub fn count_also(&mut self, datasets: &[PathBuf]) -> Result<()> {
        for path in datasets {
            for (_, row) in read_file_rows(path)? {
                if let Some(a) = row.get("archetype").and_then(Value::as_str) {
                    *self.counted_elsewhere.entry(a.to_string()).or_default() += 1;
                }
            }
        }
        Ok(())
    }

    pub fn candidates_name(&self) -> &str {
        &self.candidates_name
    }

    pub fn press(&mut self, key: Key) -> Result<Outcome> {
        if self.done() && !matches!(key, Key::Undo | Key::Quit) {
            self.form.message = Some("all candidates done: Ctrl-U undoes, Ctrl-Q quits".into());
            return Ok(Outcome::Continue);
        }
        match self.form.press(key) {
            Request::Nothing => {}
            Request::Save(answer) => self.save(&answer)?,
            Request::Skip => {
                self.position += 1;
                self.settle();
            }
            Request::Undo => self.undo()?,
            Request::Quit => return Ok(Outcome::Quit),
        }
        Ok(Outcome::Continue)
    }

    fn save(&mut self, answer: &Answer) -> Result<()> {
        let row = labelled_row(&self.candidates[self.position], answer, &self.rater);
        let mut line = serde_json::to_string(&row).expect("a row serialises");
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.out_path)
            .map_err(|e| Error::io(&self.out_path, e))?;
        let offset = file
            .metadata()
            .map_err(|e| Error::io(&self.out_path, e))?
            .len();
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(&self.out_path, e))?;
        self.remember(Some(self.position), offset, &row);
        self.position += 1;
        self.settle();
        Ok(())
    }

    fn undo(&mut self) -> Result<()> {
        let Some(last) = self.saved.pop() else {
            self.form.message = Some("nothing to undo".into());
            return Ok(());
        };
        let bytes = std::fs::read(&self.out_path).map_err(|e| Error::io(&self.out_path, e))?;
        let undone = parse_row(bytes[last.offset as usize..].trim_ascii_end()).map_err(|e| {
            Error::data(
                Location::in_file(&self.out_path, self.saved.len() as u64 + 1),
                e.0,
            )
        })?;
        File::options()
            .write(true)
            .open(&self.out_path)
            .and_then(|f| f.set_len(last.offset).and_then(|()| f.sync_data()))
            .map_err(|e| Error::io(&self.out_path, e))?;
        if let Some(a) = &last.archetype {
            *self.counts.entry(a.clone()).or_default() -= 1;
        }
        let names = self.names();
        if let Some(i) = last.candidate {
            self.labelled[i] = false;
            self.position = i;
            let mut answer = answer_of(&undone);
            answer.tags = extra_tags(&self.candidates[i], &undone);
            self.form = Form::with_answer(answer, &names);
        } else {
            self.settle();
        }
        self.form.message = Some("undone: the last answer is back in the form".into());
        Ok(())
    }
}

/// The tags a rater added: the row's tags less the candidate's and the archetype.
fn extra_tags(candidate: &Row, labelled: &Row) -> Vec<String> {
    let had = |t: &str| {
        candidate
            .get("tags")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(t)))
            || labelled.get("archetype").and_then(Value::as_str) == Some(t)
    };
    labelled
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| !had(t))
        .map(str::to_string)
        .collect()
}
