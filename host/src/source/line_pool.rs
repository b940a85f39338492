//! Replay's parse pool: the collector reads lines in chunks and hands each
//! chunk to a pool thread, which checks or parses every line of it; the
//! collector takes the chunks back in input order and dispatches them, so
//! each signature still sees its events in input order.
//!
//! A pool thread decides "selected or not" on a snapshot of the selected
//! event names taken when the chunk was sent. The collector asks the
//! pipeline again for each line; should the answer have changed since (a
//! signature change), it handles that line itself, as before the pool.

use std::collections::HashSet;
use std::io::{self, BufRead};
use std::ops::Range;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::error_chain;
use crate::event::Event;
use crate::pipeline::RawLine;

use super::tracee_check::{checked_name, sniff_event_name};
use super::tracee_json::parse_event;

/// Bytes after which a chunk ends (at the end of the line then being
/// read): enough to pay for the hand-over (two channel operations), few
/// enough that the first findings come soon.
const CHUNK_BYTES: usize = 256 << 10;

/// Lines read, in one buffer.
#[derive(Default)]
pub(crate) struct Chunk {
    /// Shared with the envelopes of its events (their raw lines), so a
    /// buffer is reused only once none of them holds it any more.
    text: Arc<Vec<u8>>,
    /// Each line's bytes in `text`, as read (with its newline): found by
    /// the pool thread ([`Chunk::split_lines`]), not the reader.
    lines: Vec<Range<usize>>,
}

impl Chunk {
    /// Fills the chunk from `input` (a file: a stream that may go quiet
    /// would hold lines back until the chunk is full) with whole lines, in
    /// blocks as the input hands them over: only the last line is searched
    /// for its end here. Returns `false` at the end of the input, with
    /// nothing read.
    pub(crate) fn fill<R: BufRead>(&mut self, input: &mut R) -> io::Result<bool> {
        let mut text = Arc::try_unwrap(std::mem::take(&mut self.text)).unwrap_or_default();
        text.clear();
        self.lines.clear();
        let filled = loop {
            let block = match input.fill_buf() {
                Ok(block) => block,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => break Err(error),
            };
            if block.is_empty() {
                break Ok(());
            }
            let take = block.len().min(CHUNK_BYTES.saturating_sub(text.len()));
            if take == 0 {
                // Full: end the line being read, if it has not ended.
                if text.last() != Some(&b'\n')
                    && let Err(error) = input.read_until(b'\n', &mut text)
                {
                    break Err(error);
                }
                break Ok(());
            }
            text.extend_from_slice(&block[..take]);
            input.consume(take);
        };
        self.text = Arc::new(text);
        filled?;
        Ok(!self.text.is_empty())
    }

    /// Finds the lines of the text (the pool thread's part of reading).
    pub(crate) fn split_lines(&mut self) {
        self.lines.clear();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &self.text) {
            self.lines.push(start..end + 1);
            start = end + 1;
        }
        if start < self.text.len() {
            self.lines.push(start..self.text.len());
        }
    }

    /// Whether no event holds the buffer any more: filling it again then
    /// reuses it instead of taking a new one.
    pub(crate) fn is_free(&self) -> bool {
        Arc::strong_count(&self.text) == 1
    }

    /// The line (trimmed) at `range` of the text, shared with the chunk.
    pub(crate) fn raw_line(&self, range: Range<usize>) -> RawLine {
        RawLine::shared(self.text.clone(), range)
    }

    /// Where `part` (a slice of line `index`'s bytes) lies in the text.
    pub(crate) fn range_of(&self, part: &[u8]) -> Range<usize> {
        let start = part.as_ptr() as usize - self.text.as_ptr() as usize;
        start..start + part.len()
    }

    /// Line `index`'s bytes, as read.
    pub(crate) fn line(&self, index: usize) -> &[u8] {
        &self.text[self.lines[index].clone()]
    }

    /// Text that `judge` took from a `str` (a line or a name).
    pub(crate) fn text(&self, range: Range<usize>) -> &str {
        std::str::from_utf8(&self.text[range]).unwrap_or_default()
    }
}

/// What a pool thread made of one line.
pub(crate) enum Outcome {
    /// Whitespace only.
    Blank,
    /// Not UTF-8.
    NotUtf8,
    /// An event whose (sniffed) name the snapshot did not select, checked
    /// and not built.
    Unselected,
    /// A parsed event, already in the `Arc` its envelope shares (an event
    /// inline made every outcome its size, moved three times per line),
    /// and its line (trimmed) in the chunk's text.
    Parsed(Arc<Event>, Range<usize>),
    /// Refused by the parser, with the reason.
    Bad(String),
}

/// A line's outcome and what the collector needs to trust it.
pub(crate) struct Judged {
    pub outcome: Outcome,
    /// The sniffed event name (in the chunk's text) and whether the
    /// snapshot selected it: when the pipeline now says otherwise, the
    /// collector handles the line itself.
    pub sniffed: Option<(Range<usize>, bool)>,
}

/// A chunk with its lines' outcomes, in order.
pub(crate) struct Judgement {
    pub chunk: Chunk,
    pub judged: Vec<Judged>,
}

/// The event names some running signature selects, when a chunk was sent.
pub(crate) type Selection = Arc<HashSet<String>>;

struct Job {
    chunk: Chunk,
    selection: Selection,
    done: Sender<Judgement>,
}

/// Threads that judge chunks; dropped, they end once their queue is empty.
pub(crate) struct LinePool {
    jobs: Option<Sender<Job>>,
}

impl LinePool {
    /// Starts `threads` pool threads in `scope`.
    pub(crate) fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        threads: usize,
    ) -> io::Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for index in 0..threads.max(1) {
            let queue: Receiver<Job> = queue.clone();
            std::thread::Builder::new()
                .name(format!("sigbox-parse-{index}"))
                .spawn_scoped(scope, move || {
                    for mut job in queue {
                        job.chunk.split_lines();
                        let judged = judge(&job.chunk, &job.selection);
                        let _ = job.done.send(Judgement {
                            chunk: job.chunk,
                            judged,
                        });
                    }
                })?;
        }
        Ok(Self { jobs: Some(jobs) })
    }

    /// Queues `chunk`; its judgement comes on the returned receiver.
    pub(crate) fn send(&self, chunk: Chunk, selection: Selection) -> Receiver<Judgement> {
        let (done, judgement) = crossbeam_channel::bounded(1);
        if let Some(jobs) = &self.jobs {
            // The pool threads end only once this sender is gone.
            let _ = jobs.send(Job {
                chunk,
                selection,
                done,
            });
        }
        judgement
    }
}

impl Drop for LinePool {
    fn drop(&mut self) {
        self.jobs = None;
    }
}

/// Judges every line of `chunk` as the collector did line by line.
pub(super) fn judge(chunk: &Chunk, selection: &HashSet<String>) -> Vec<Judged> {
    chunk
        .lines
        .iter()
        .map(|range| judge_line(&chunk.text, range.clone(), selection))
        .collect()
}

fn judge_line(text: &[u8], range: Range<usize>, selection: &HashSet<String>) -> Judged {
    let buffer = &text[range.clone()];
    if buffer.iter().all(u8::is_ascii_whitespace) {
        return Judged {
            outcome: Outcome::Blank,
            sniffed: None,
        };
    }
    let Ok(line) = std::str::from_utf8(buffer) else {
        return Judged {
            outcome: Outcome::NotUtf8,
            sniffed: None,
        };
    };
    let line = line.trim();
    let name = sniff_event_name(line);
    let sniffed = name.map(|name| {
        let start = range.start + (name.as_ptr() as usize - buffer.as_ptr() as usize);
        (start..start + name.len(), selection.contains(name))
    });
    if let Some(name) = name
        && !selection.contains(name)
        && checked_name(line).is_some_and(|checked| checked == name)
    {
        return Judged {
            outcome: Outcome::Unselected,
            sniffed,
        };
    }
    let outcome = match parse_event(line) {
        Ok(event) => {
            let start = range.start + (line.as_ptr() as usize - buffer.as_ptr() as usize);
            Outcome::Parsed(Arc::new(event), start..start + line.len())
        }
        Err(error) => Outcome::Bad(error_chain(&error)),
    };
    Judged { outcome, sniffed }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines the parser refuses, each for its own reason.
    const BAD: [&[u8]; 6] = [
        b"not json\n",
        b"[1,2]\n",
        b"{\"processId\":1}\n",
        b"{\"eventName\":\"close\",\"processId\":\"one\"}\n",
        b"{\"eventName\":\"close\",\"args\":[{\"name\":\"a\",\"value\":1E500}]}\n",
        b"{\"eventName\":\"x\xff\"}\n",
    ];

    fn chunk_of(text: &[u8]) -> Vec<Chunk> {
        let mut input = text;
        let mut chunks = Vec::new();
        loop {
            let mut chunk = Chunk::default();
            if !chunk.fill(&mut input).unwrap() {
                return chunks;
            }
            chunk.split_lines();
            chunks.push(chunk);
        }
    }

    /// What the collector itself made of a line before the pool.
    fn sequential(buffer: &[u8], selection: &HashSet<String>) -> String {
        if buffer.iter().all(u8::is_ascii_whitespace) {
            return "blank".into();
        }
        let Ok(line) = std::str::from_utf8(buffer) else {
            return "not utf-8".into();
        };
        let line = line.trim();
        if let Some(name) = sniff_event_name(line)
            && !selection.contains(name)
            && checked_name(line).is_some_and(|checked| checked == name)
        {
            return "unselected".into();
        }
        match parse_event(line) {
            Ok(event) => format!("parsed {event:?} from {line}"),
            Err(error) => format!("bad: {}", error_chain(&error)),
        }
    }

    fn described(chunk: &Chunk, judged: &Judged) -> String {
        match &judged.outcome {
            Outcome::Blank => "blank".into(),
            Outcome::NotUtf8 => "not utf-8".into(),
            Outcome::Unselected => "unselected".into(),
            Outcome::Parsed(event, line) => {
                format!("parsed {event:?} from {}", chunk.text(line.clone()))
            }
            Outcome::Bad(reason) => format!("bad: {reason}"),
        }
    }

    /// Every fixture line, with bad and blank ones between them, judged in
    /// chunks as the collector judged it line by line: the same event (or
    /// the same reason), selected or not by the same names.
    #[test]
    fn the_pool_judges_every_line_as_the_collector_did() {
        let mut text = Vec::new();
        for (index, line) in super::super::TRACEE_FIXTURES
            .iter()
            .flat_map(|f| f.lines())
            .enumerate()
        {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
            if index % 7 == 0 {
                text.extend_from_slice(BAD[index / 7 % BAD.len()]);
                text.extend_from_slice(b"  \n");
            }
        }
        for selected in [
            &[][..],
            &["sched_process_exec"][..],
            &["security_file_open", "security_socket_connect", "ptrace"][..],
        ] {
            let selection: HashSet<String> = selected.iter().map(|s| (*s).to_owned()).collect();
            let (mut lines, mut kinds) = (0, HashSet::new());
            for chunk in chunk_of(&text) {
                let judged = judge(&chunk, &selection);
                assert_eq!(judged.len(), chunk.lines.len());
                for (index, judged) in judged.iter().enumerate() {
                    let old = sequential(chunk.line(index), &selection);
                    assert_eq!(described(&chunk, judged), old);
                    kinds.insert(old.split(' ').next().unwrap().to_owned());
                    if let Some((name, was_selected)) = &judged.sniffed {
                        assert_eq!(selection.contains(chunk.text(name.clone())), *was_selected);
                    }
                    lines += 1;
                }
            }
            assert_eq!(lines, text.split(|b| *b == b'\n').count() - 1);
            assert!(kinds.len() >= 4, "{selected:?}: {kinds:?}");
        }
    }

    /// A chunk ends at the end of the line that crosses its byte bound,
    /// whatever the input's blocks, and the last line needs no newline.
    #[test]
    fn chunks_split_the_input_at_line_ends() {
        let mut text = Vec::new();
        let mut n = 0;
        while text.len() < CHUNK_BYTES * 2 + 100 {
            text.extend_from_slice(format!("line {n}\n").as_bytes());
            n += 1;
        }
        text.extend_from_slice(b"last");
        for block in [7, 4096, 1 << 20] {
            let mut input = io::BufReader::with_capacity(block, &text[..]);
            let mut chunks = Vec::new();
            loop {
                let mut chunk = Chunk::default();
                if !chunk.fill(&mut input).unwrap() {
                    break;
                }
                chunk.split_lines();
                chunks.push(chunk);
            }
            let lines: Vec<&[u8]> = chunks
                .iter()
                .flat_map(|c| (0..c.lines.len()).map(move |i| c.line(i)))
                .collect();
            assert_eq!(lines.len(), n + 1, "block {block}");
            for (index, line) in lines[..n].iter().enumerate() {
                assert_eq!(*line, format!("line {index}\n").as_bytes());
            }
            assert_eq!(lines[n], b"last");
            assert_eq!(chunks.len(), 3, "block {block}");
            for chunk in &chunks[..2] {
                assert!(chunk.text.len() >= CHUNK_BYTES && chunk.text.ends_with(b"\n"));
                assert!(chunk.text.len() < CHUNK_BYTES + 20);
            }
        }

        let long = vec![b'x'; CHUNK_BYTES];
        let mut text = long.clone();
        text.extend_from_slice(b"\nsecond\n");
        let counts: Vec<usize> = chunk_of(&text).iter().map(|c| c.lines.len()).collect();
        assert_eq!(counts, [1, 1]);
    }
}
