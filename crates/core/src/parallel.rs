//! Parallel processing of line chunks with results in input order.
//!
//! One thread reads lines into chunks of a fixed number of lines; workers
//! map each chunk to a result; the calling thread receives the results in
//! chunk order. Chunk boundaries depend only on the input (every
//! `CHUNK_LINES` non-blank lines), never on timing or the number of
//! workers, so a tool that folds the results in order gives byte-identical
//! output on any machine.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Location, Result};
use crate::progress::Progress;
use crate::reader::LineReader;

/// Non-blank lines per chunk.
pub const CHUNK_LINES: usize = 4096;

/// One line of a chunk.
pub struct ChunkLine<'a> {
    /// Borrowed, not cloned: every clone of a `Location` touches its
    /// source name's reference count, one cache line shared by the reading
    /// thread, the workers and the writer, for every line.
    pub location: &'a Location,
    /// The line's bytes, without its end.
    pub bytes: &'a [u8],
    /// the line's full length when it was over the cap (`bytes` is cut)
    pub too_long: Option<usize>,
}

struct Span {
    location: Location,
    start: usize,
    end: usize,
    too_long: Option<usize>,
}

/// A run of consecutive lines.
pub struct Chunk {
    data: Vec<u8>,
    spans: Vec<Span>,
}

impl Chunk {
    /// Lines in the chunk.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the chunk has no lines.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The chunk's lines in input order.
    pub fn lines(&self) -> impl Iterator<Item = ChunkLine<'_>> {
        self.spans.iter().map(|s| ChunkLine {
            location: &s.location,
            bytes: &self.data[s.start..s.end],
            too_long: s.too_long,
        })
    }
}

/// What the reading thread saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadStats {
    /// Blank lines skipped.
    pub blank_lines: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// How many workers to use: the machine's parallelism, at most 8, at least 1.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

fn read_chunks(
    reader: &mut LineReader,
    tx: SyncSender<(u64, Chunk)>,
    recycled: Receiver<Chunk>,
    stop: &AtomicBool,
    progress: &Progress,
) -> Result<ReadStats> {
    let mut seq = 0u64;
    let mut rows = 0u64;
    loop {
        // Reusing a finished chunk's buffers spares the allocator (and the
        // kernel, which would zero fresh pages) a megabyte per chunk.
        let mut chunk = recycled.try_recv().unwrap_or_else(|_| Chunk {
            data: Vec::with_capacity(CHUNK_LINES * 256),
            spans: Vec::with_capacity(CHUNK_LINES),
        });
        chunk.data.clear();
        chunk.spans.clear();
        while chunk.spans.len() < CHUNK_LINES {
            let Some(line) = reader.next_line()? else {
                break;
            };
            let start = chunk.data.len();
            chunk.data.extend_from_slice(line.bytes);
            chunk.spans.push(Span {
                location: line.location,
                start,
                end: chunk.data.len(),
                too_long: line.too_long,
            });
        }
        rows += chunk.spans.len() as u64;
        progress.update_now(rows, reader.bytes_read());
        let last = chunk.spans.len() < CHUNK_LINES;
        if !chunk.is_empty() && (stop.load(Ordering::Relaxed) || tx.send((seq, chunk)).is_err()) {
            break;
        }
        seq += 1;
        if last {
            break;
        }
    }
    Ok(ReadStats {
        blank_lines: reader.blank_lines(),
        bytes: reader.bytes_read(),
    })
}

/// Reads `reader` in chunks, maps each with `map` on `workers` threads, and
/// hands the results to `fold` in input order. An error from `fold` stops
/// everything and is returned; so is a read error.
pub fn for_each_chunk<R, M, F>(
    reader: &mut LineReader,
    workers: usize,
    progress: &Progress,
    map: M,
    mut fold: F,
) -> Result<ReadStats>
where
    R: Send,
    M: Fn(&Chunk) -> R + Sync,
    F: FnMut(R) -> Result<()>,
{
    let workers = workers.max(1);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (chunk_tx, chunk_rx) = mpsc::sync_channel::<(u64, Chunk)>(workers * 2);
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        let (result_tx, result_rx) = mpsc::sync_channel::<(u64, R)>(workers * 2);
        let (recycle_tx, recycle_rx) = mpsc::sync_channel::<Chunk>(workers * 4);
        let stop = &stop;
        let reading =
            scope.spawn(move || read_chunks(reader, chunk_tx, recycle_rx, stop, progress));
        for _ in 0..workers {
            let rx = Arc::clone(&chunk_rx);
            let tx = result_tx.clone();
            let recycle = recycle_tx.clone();
            let map = &map;
            scope.spawn(move || work(&rx, &tx, &recycle, map));
        }
        drop(result_tx);
        drop(recycle_tx);
        let folded = fold_in_order(&result_rx, &mut fold);
        if folded.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        // Dropping the receiver makes the workers' sends fail, so they end,
        // and with them the reader's sends.
        drop(result_rx);
        drop(chunk_rx);
        let read = reading
            .join()
            .unwrap_or_else(|_| Err(Error::usage("the reading thread panicked")));
        folded?;
        read
    })
}

fn work<R, M: Fn(&Chunk) -> R>(
    rx: &Mutex<Receiver<(u64, Chunk)>>,
    tx: &SyncSender<(u64, R)>,
    recycle: &SyncSender<Chunk>,
    map: &M,
) {
    loop {
        let next = rx.lock().map(|r| r.recv());
        let Ok(Ok((seq, chunk))) = next else {
            return;
        };
        let result = map(&chunk);
        // A full recycling queue just means the chunk is freed.
        let _ = recycle.try_send(chunk);
        if tx.send((seq, result)).is_err() {
            return;
        }
    }
}

fn fold_in_order<R>(rx: &Receiver<(u64, R)>, fold: &mut impl FnMut(R) -> Result<()>) -> Result<()> {
    let mut next = 0u64;
    let mut waiting = BTreeMap::new();
    for (seq, result) in rx.iter() {
        waiting.insert(seq, result);
        while let Some(result) = waiting.remove(&next) {
            fold(result)?;
            next += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(lines: usize) -> LineReader {
        let data: String = (0..lines).map(|i| format!("{i}\n\n")).collect();
        LineReader::from_reader("t", std::io::Cursor::new(data.into_bytes()), 100)
    }

    #[test]
    fn results_arrive_in_order_whatever_the_workers() {
        for workers in [1, 2, 5] {
            let mut r = reader(CHUNK_LINES * 3 + 17);
            let mut seen = Vec::new();
            let progress = Progress::new(true, None);
            let stats = for_each_chunk(
                &mut r,
                workers,
                &progress,
                |c| {
                    c.lines()
                        .map(|l| (l.location.line, l.bytes.to_vec()))
                        .collect::<Vec<_>>()
                },
                |lines| {
                    seen.extend(lines);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen.len(), CHUNK_LINES * 3 + 17);
            for (i, (line, bytes)) in seen.iter().enumerate() {
                assert_eq!(*line, 2 * i as u64 + 1);
                assert_eq!(bytes, i.to_string().as_bytes());
            }
            assert_eq!(stats.blank_lines, (CHUNK_LINES * 3 + 17) as u64);
        }
    }

    #[test]
    fn an_error_from_fold_stops_the_run() {
        let mut r = reader(CHUNK_LINES * 20);
        let mut folded = 0;
        let progress = Progress::new(true, None);
        let err = for_each_chunk(
            &mut r,
            2,
            &progress,
            |c| c.len(),
            |_| {
                folded += 1;
                if folded == 2 {
                    Err(Error::Check("stop".into()))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "stop");
        assert_eq!(folded, 2);
    }

    #[test]
    fn empty_input() {
        let mut r = reader(0);
        let progress = Progress::new(true, None);
        let mut calls = 0;
        for_each_chunk(
            &mut r,
            2,
            &progress,
            |c| c.len(),
            |_| {
                calls += 1;
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(calls, 0);
    }
}
