//! Replay: reads Tracee `--output json` lines and feeds them to the pipeline.

use std::io::{self, BufRead, Write};

use crate::error_chain;
use crate::pipeline::Pipeline;

use super::tracee_json::parse_event;

/// Reads `input` to the end, one event per line. A line that is not valid
/// UTF-8, not JSON or not a Tracee event is logged with its line number and
/// the reason, counted and skipped. Blank lines are ignored.
///
/// # Errors
/// Reading `input` failed, or findings could not be written.
pub fn replay<R: BufRead, W: Write>(mut input: R, pipeline: &mut Pipeline<W>) -> io::Result<()> {
    let mut buffer = Vec::new();
    let mut line_number = 0u64;
    loop {
        buffer.clear();
        if input.read_until(b'\n', &mut buffer)? == 0 {
            return Ok(());
        }
        line_number += 1;
        if buffer.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        pipeline.counts_mut().records += 1;
        let Ok(line) = std::str::from_utf8(&buffer) else {
            bad_line(pipeline, line_number, "not valid UTF-8");
            continue;
        };
        let line = line.trim();
        match parse_event(line) {
            Ok(event) => {
                pipeline.process(&event, Some(line), &format_args!("line {line_number}"))?
            }
            Err(error) => bad_line(pipeline, line_number, &error_chain(&error)),
        }
    }
}

fn bad_line<W: Write>(pipeline: &mut Pipeline<W>, line_number: u64, reason: &str) {
    let counts = pipeline.counts_mut();
    counts.bad_records += 1;
    // Every bad line is counted; the log shows the first hundred and then one
    // in a thousand, so a wholly wrong input cannot flood it.
    if counts.bad_records <= 100 || counts.bad_records.is_multiple_of(1000) {
        tracing::warn!("line {line_number}: skipped: {reason}");
    }
}
