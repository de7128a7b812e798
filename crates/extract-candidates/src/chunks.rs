//! Chat and OpenAI-shaped JSONL read in parallel: workers prepare each
//! chunk's messages ([`crate::Prep`]), and the run's [`Output`] offers them
//! to the harvester in input order, with bad lines in their places.

use refinery_core::parallel::Chunk;
use refinery_core::reader::too_long_reason;
use refinery_core::rejects::BadLine;
use refinery_core::writer::JsonlWriter;
use refinery_core::{Rejects, Result, Tally};

use crate::{Format, Harvester, Prep, Prepared, TurnsWithoutText};

/// The state of one run: where candidates and bad lines go, and the counts.
pub(crate) struct Output {
    pub(crate) out: JsonlWriter<std::io::Stdout>,
    pub(crate) rejects: Rejects,
    pub(crate) tally: Tally,
    pub(crate) joined: Vec<bool>,
    pub(crate) joined_messages: u64,
    pub(crate) line: Vec<u8>,
}

impl Output {
    pub(crate) fn message(
        &mut self,
        harvester: &mut Harvester,
        p: &Prepared,
        arena: &[u8],
    ) -> Result<()> {
        self.tally.read += 1;
        if let Some(i) = p.joined {
            self.joined[i as usize] = true;
            self.joined_messages += 1;
        }
        self.line.clear();
        if harvester.offer(p, arena, &mut self.line) {
            self.out.write_raw_line(&self.line)?;
            self.tally.written += 1;
        }
        Ok(())
    }

    pub(crate) fn bad(&mut self, bad: &BadLine) -> Result<()> {
        self.tally.read += 1;
        self.rejects.reject_bad(bad)
    }
}

/// A chunk's messages as a worker leaves them, in order, with its bad lines
/// in their places.
type ChatItem = std::result::Result<Prepared, BadLine>;

/// A chunk's messages and the one buffer holding their bytes.
pub(crate) struct PreparedChunk {
    pub(crate) items: Vec<ChatItem>,
    pub(crate) arena: Vec<u8>,
    /// OpenAI-shaped turns that gave no message.
    pub(crate) without_text: TurnsWithoutText,
}

pub(crate) fn prepare_chunk(
    prep: &Prep,
    format: Format,
    chunk: &Chunk,
    max_line_bytes: usize,
) -> PreparedChunk {
    let mut items = Vec::with_capacity(chunk.len());
    let mut arena = Vec::with_capacity(chunk.len() * 384);
    let mut without_text = TurnsWithoutText::default();
    for l in chunk.lines() {
        let bad = |reason: String| BadLine {
            location: l.location.clone(),
            reason,
            raw: l.bytes.to_vec(),
        };
        if let Some(len) = l.too_long {
            items.push(Err(bad(too_long_reason(len, max_line_bytes))));
            continue;
        }
        match format {
            Format::Openai => match prep.openai_line(l.bytes, l.location, &mut arena) {
                Ok((messages, without)) => {
                    items.extend(messages.into_iter().map(Ok));
                    without_text.turns += without.turns;
                    without_text.parts += without.parts;
                }
                Err(reason) => items.push(Err(bad(reason))),
            },
            _ => items.push(prep.chat_line(l.bytes, l.location, &mut arena).map_err(bad)),
        }
    }
    PreparedChunk {
        items,
        arena,
        without_text,
    }
}
