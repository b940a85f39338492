//! Replay: reads Tracee `--output json` lines and feeds them to the pipeline.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::error_chain;
use crate::pipeline::{Pipeline, Place, RawLine};

use super::line_pool::{Chunk, Judged, Judgement, LinePool, Outcome};
use super::tracee_check::{checked_name, sniff_event_name};
use super::tracee_json::parse_event;

/// Dispatched chunks kept for reuse: enough to cover the events queued to
/// the workers (a few thousand) at a few hundred lines per chunk.
const SPARE_CHUNKS: usize = 32;

/// How long a quiet stream waits before the pipeline does its idle work
/// (applying signature changes, ending quarantines).
const IDLE: Duration = Duration::from_millis(100);

/// Reads `input` to the end, one event per line. A line that is not valid
/// UTF-8, not JSON or not a Tracee event is logged with its line number and
/// the reason, counted and skipped. Blank lines are ignored. A stop request
/// ends it at the next line.
///
/// Lines are read here in chunks and checked or parsed on a pool of
/// threads (one per core), then dispatched here in input order. For files:
/// a stream that may go quiet takes [`replay_stream`].
///
/// # Errors
/// Reading `input` failed, or findings could not be written.
pub fn replay<R: BufRead, W: Write + Send + 'static>(
    mut input: R,
    pipeline: &mut Pipeline<W>,
) -> io::Result<()> {
    let threads = crate::pipeline::default_workers();
    std::thread::scope(|scope| {
        let pool = LinePool::start(scope, threads)?;
        // Chunks read ahead: enough to keep every pool thread busy while
        // the oldest is dispatched.
        let ahead = 2 * threads + 1;
        let mut in_flight = VecDeque::with_capacity(ahead);
        // Chunks dispatched, kept for reuse: a fresh buffer costs a page
        // fault per page, and a chunk is free only once the workers are
        // done with its events (their raw lines share its buffer).
        let mut spare: Vec<Chunk> = Vec::with_capacity(SPARE_CHUNKS);
        let mut selection = Arc::new(pipeline.selected_names());
        let mut generation = pipeline.applied_changes();
        let mut lines = Lines::default();
        let mut ended = false;
        loop {
            while !ended && in_flight.len() < ahead && !pipeline.stop_requested() {
                let mut chunk = match spare.iter().position(Chunk::is_free) {
                    Some(free) => spare.swap_remove(free),
                    // All still held: a new one while there is room, else
                    // the oldest (it then takes a new buffer).
                    None if spare.len() < SPARE_CHUNKS => Chunk::default(),
                    None => spare.remove(0),
                };
                if !chunk.fill(&mut input)? {
                    ended = true;
                    break;
                }
                // The names are taken again only after a signature change.
                if pipeline.selection_generation() != generation {
                    let names = pipeline.selected_names();
                    generation = pipeline.applied_changes();
                    if *selection != names {
                        selection = Arc::new(names);
                    }
                }
                in_flight.push_back((generation, pool.send(chunk, selection.clone())));
            }
            let Some((judged_on, judgement)) = in_flight.pop_front() else {
                break;
            };
            let Judgement { chunk, judged } = judgement
                .recv()
                .map_err(|_| io::Error::other("a replay parse thread failed"))?;
            for (index, judged) in judged.into_iter().enumerate() {
                if pipeline.stop_requested() {
                    break;
                }
                lines.handle_judged(pipeline, &chunk, index, judged, judged_on)?;
            }
            spare.push(chunk);
            if pipeline.stop_requested() {
                break;
            }
        }
        lines.finish();
        Ok(())
    })
}

/// Like [`replay`], for a stream that may go quiet (stdin, a FIFO): lines
/// are read on another thread, and while none arrives the pipeline still
/// applies signature changes and ends quarantines.
///
/// # Errors
/// Reading `input` failed, or findings could not be written.
pub(crate) fn replay_stream<R: BufRead + Send + 'static, W: Write + Send + 'static>(
    mut input: R,
    pipeline: &mut Pipeline<W>,
) -> io::Result<()> {
    let (lines, received) = mpsc::sync_channel::<io::Result<Vec<u8>>>(1024);
    std::thread::Builder::new()
        .name("sigbox-replay-read".into())
        .spawn(move || {
            loop {
                let mut buffer = Vec::new();
                let line = match input.read_until(b'\n', &mut buffer) {
                    Ok(0) => return,
                    Ok(_) => Ok(buffer),
                    Err(error) => Err(error),
                };
                let failed = line.is_err();
                if lines.send(line).is_err() || failed {
                    return;
                }
            }
        })?;
    let mut lines = Lines::default();
    loop {
        if pipeline.stop_requested() {
            lines.finish();
            return Ok(());
        }
        match received.recv_timeout(IDLE) {
            Ok(line) => lines.handle(pipeline, &line?, RawLine::copied)?,
            Err(mpsc::RecvTimeoutError::Timeout) => pipeline.tick(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                lines.finish();
                return Ok(());
            }
        }
    }
}

/// Where a replay is in its input.
#[derive(Default)]
struct Lines {
    /// The last line's number.
    number: u64,
    /// Events no signature selected, checked but never built.
    unselected: u64,
}

impl Lines {
    /// Handles one line read; `raw` makes the envelope's copy of a parsed
    /// line (its place in a chunk, or a copy).
    fn handle<W: Write + Send + 'static>(
        &mut self,
        pipeline: &mut Pipeline<W>,
        buffer: &[u8],
        raw: impl FnOnce(&str) -> RawLine,
    ) -> io::Result<()> {
        self.number += 1;
        if buffer.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        pipeline.counts_mut().records += 1;
        let Ok(line) = std::str::from_utf8(buffer) else {
            bad_line(pipeline, self.number, "not valid UTF-8");
            return Ok(());
        };
        let line = line.trim();
        // An event no signature selects is only checked, not built: a scan
        // of the line, with no copies, and counted as an event all the same.
        // A line the check refuses is parsed, which says why it is bad.
        if let Some(name) = sniff_event_name(line)
            && !pipeline.selects(name)
            && checked_name(line).is_some_and(|checked| checked == name)
        {
            self.unselected += 1;
            return pipeline.pass_unselected();
        }
        match parse_event(line) {
            Ok(event) => pipeline.process(event, Some(raw(line)), Place::Line(self.number)),
            Err(error) => {
                bad_line(pipeline, self.number, &error_chain(&error));
                Ok(())
            }
        }
    }

    /// Handles a line a pool thread judged, as [`Lines::handle`] would;
    /// `judged_on` is the selection generation its chunk was judged on.
    fn handle_judged<W: Write + Send + 'static>(
        &mut self,
        pipeline: &mut Pipeline<W>,
        chunk: &Chunk,
        index: usize,
        judged: Judged,
        judged_on: u64,
    ) -> io::Result<()> {
        // A signature change since the chunk was sent: judge it anew here.
        // Without one the judgement stands, and the line's name (last read
        // on a pool thread's core) is not read again here.
        if let Some((name, selected)) = judged.sniffed
            && pipeline.selection_generation() != judged_on
            && pipeline.selects(chunk.text(name)) != selected
        {
            return self.handle(pipeline, chunk.line(index), |line| {
                chunk.raw_line(chunk.range_of(line.as_bytes()))
            });
        }
        self.number += 1;
        if !matches!(judged.outcome, Outcome::Blank) {
            pipeline.counts_mut().records += 1;
        }
        match judged.outcome {
            Outcome::Blank => Ok(()),
            Outcome::NotUtf8 => {
                bad_line(pipeline, self.number, "not valid UTF-8");
                Ok(())
            }
            Outcome::Unselected => {
                self.unselected += 1;
                pipeline.pass_unselected()
            }
            Outcome::Parsed(event, line) => {
                pipeline.process_shared(event, Some(chunk.raw_line(line)), Place::Line(self.number))
            }
            Outcome::Bad(reason) => {
                bad_line(pipeline, self.number, &reason);
                Ok(())
            }
        }
    }

    fn finish(&self) {
        if self.unselected > 0 {
            tracing::info!(
                "{} events no signature selects were checked, not parsed",
                self.unselected
            );
        }
    }
}

fn bad_line<W: Write + Send + 'static>(pipeline: &mut Pipeline<W>, line_number: u64, reason: &str) {
    let counts = pipeline.counts_mut();
    counts.bad_records += 1;
    // Every bad line is counted; the log shows the first hundred and then one
    // in a thousand, so a wholly wrong input cannot flood it.
    if counts.bad_records <= 100 || counts.bad_records.is_multiple_of(1000) {
        tracing::warn!("line {line_number}: skipped: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::pipeline::PipelineOptions;
    use crate::sink::{FindingWriter, OutputFormat};

    fn empty_pipeline() -> Pipeline<io::Sink> {
        Pipeline::with_options(
            FindingWriter::new(io::sink(), OutputFormat::Json, false),
            PipelineOptions::default(),
        )
    }

    /// A line a pool thread judged with a selection that no longer holds
    /// (a signature change since) is judged anew by the collector: here a
    /// parsed event nobody selects any more is only checked, as before.
    #[test]
    fn a_line_judged_on_a_stale_selection_is_judged_again() {
        let mut pipeline = empty_pipeline();
        let line = br#"{"eventName":"close","args":[]}"#;
        let mut chunk = Chunk::default();
        assert!(chunk.fill(&mut &line[..]).unwrap());
        chunk.split_lines();
        let stale: HashSet<String> = ["close".to_owned()].into();
        let judged = super::super::line_pool::judge(&chunk, &stale);
        assert!(matches!(judged[0].outcome, Outcome::Parsed(..)));
        let mut lines = Lines::default();
        for (index, judged) in judged.into_iter().enumerate() {
            lines
                // Judged on a generation the pipeline is no longer at.
                .handle_judged(&mut pipeline, &chunk, index, judged, u64::MAX)
                .unwrap();
        }
        assert_eq!((lines.number, lines.unselected), (1, 1));
        let counts = pipeline.counts_mut();
        assert_eq!(
            (counts.records, counts.events, counts.bad_records),
            (1, 1, 0)
        );
        assert_eq!(
            counts.host_filtered,
            crate::pipeline::HostFiltered::default(),
            "checked, not built"
        );
    }

    /// Replay through the pool counts lines as the collector did: records,
    /// events, bad records, and the events only checked.
    #[test]
    fn replay_counts_every_line_in_order() {
        let mut pipeline = empty_pipeline();
        let mut input = Vec::new();
        for n in 0..1000 {
            match n % 10 {
                0 => input.extend_from_slice(b"not json\n"),
                1 => input.extend_from_slice(b"\n"),
                _ => input.extend_from_slice(br#"{"eventName":"close","args":[]}"#),
            }
            input.push(b'\n');
        }
        replay(&input[..], &mut pipeline).unwrap();
        let counts = pipeline.counts_mut();
        assert_eq!(
            (counts.records, counts.events, counts.bad_records),
            (900, 800, 100)
        );
    }
}
