//! Replay: reads Tracee `--output json` lines and feeds them to the pipeline.

use std::io::{self, BufRead, Write};
use std::sync::mpsc;
use std::time::Duration;

use crate::error_chain;
use crate::pipeline::{Pipeline, Place};

use super::tracee_check::{checked_name, sniff_event_name};
use super::tracee_json::parse_event;

/// How long a quiet stream waits before the pipeline does its idle work
/// (applying signature changes, ending quarantines).
const IDLE: Duration = Duration::from_millis(100);

/// Reads `input` to the end, one event per line. A line that is not valid
/// UTF-8, not JSON or not a Tracee event is logged with its line number and
/// the reason, counted and skipped. Blank lines are ignored. A stop request
/// ends it at the next line.
///
/// # Errors
/// Reading `input` failed, or findings could not be written.
pub fn replay<R: BufRead, W: Write + Send + 'static>(
    mut input: R,
    pipeline: &mut Pipeline<W>,
) -> io::Result<()> {
    let mut buffer = Vec::new();
    let mut lines = Lines::default();
    loop {
        buffer.clear();
        if pipeline.stop_requested() || input.read_until(b'\n', &mut buffer)? == 0 {
            lines.finish();
            return Ok(());
        }
        lines.handle(pipeline, &buffer)?;
    }
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
            Ok(line) => lines.handle(pipeline, &line?)?,
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
    fn handle<W: Write + Send + 'static>(
        &mut self,
        pipeline: &mut Pipeline<W>,
        buffer: &[u8],
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
            Ok(event) => pipeline.process(event, Some(line), Place::Line(self.number)),
            Err(error) => {
                bad_line(pipeline, self.number, &error_chain(&error));
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
