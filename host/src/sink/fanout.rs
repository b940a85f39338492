//! Findings to several outputs at once: stdout as before, and each whole
//! line (a finding or a coverage record) handed to every other output.
//! Writers build each record whole, but `Write` lets any caller hand a
//! line in pieces; outputs only ever see whole lines, so a rotated file or
//! a webhook batch never holds half a finding.

use std::io::{self, Write};
use std::sync::Arc;

use crate::telemetry::OutputCounters;

/// An output that takes whole lines (without their newline).
pub trait LineOutput: Send {
    /// Delivers (or queues) one line. Never blocks event processing for
    /// long: a slow receiver drops (and counts) instead.
    fn line(&mut self, line: &[u8]);
    /// Makes what was delivered durable where that applies.
    fn flush(&mut self) {}
}

/// stdout (or any stream, in tests) plus line outputs.
pub struct Fanout<W: Write> {
    primary: W,
    primary_counters: Arc<OutputCounters>,
    pending: Vec<u8>,
    outputs: Vec<Box<dyn LineOutput>>,
}

impl<W: Write> Fanout<W> {
    /// `primary` (stdout), counted as output `primary_name`, and `outputs`.
    pub fn new(
        primary: W,
        primary_counters: Arc<OutputCounters>,
        outputs: Vec<Box<dyn LineOutput>>,
    ) -> Self {
        Self {
            primary,
            primary_counters,
            pending: Vec::new(),
            outputs,
        }
    }
}

impl<W: Write> Write for Fanout<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // stdout first: a closed stdout still ends the daemon as before.
        self.primary.write_all(buf)?;
        // Only the new bytes can end a line: what is pending was searched
        // already (searching it again made a line written in pieces cost
        // the square of its pieces).
        let mut searched = self.pending.len();
        self.pending.extend_from_slice(buf);
        let mut start = 0;
        while let Some(offset) = self.pending[searched..].iter().position(|&b| b == b'\n') {
            let end = searched + offset;
            let line = &self.pending[start..end];
            OutputCounters::add(&self.primary_counters.sent, 1);
            for output in &mut self.outputs {
                output.line(line);
            }
            start = end + 1;
            searched = start;
        }
        self.pending.drain(..start);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        for output in &mut self.outputs {
            output.flush();
        }
        self.primary.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Collect(Arc<Mutex<Vec<Vec<u8>>>>);

    impl LineOutput for Collect {
        fn line(&mut self, line: &[u8]) {
            self.0.lock().unwrap().push(line.to_vec());
        }
    }

    #[test]
    fn outputs_see_whole_lines_however_they_are_written() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let counters = OutputCounters::new("stdout");
        let mut fanout = Fanout::new(
            Vec::new(),
            counters.clone(),
            vec![Box::new(Collect(lines.clone()))],
        );
        fanout.write_all(b"{\"a\":").unwrap();
        fanout.write_all(b"1}\n{\"b\"").unwrap();
        fanout.write_all(b":2}\n\n").unwrap();
        assert_eq!(fanout.primary, b"{\"a\":1}\n{\"b\":2}\n\n");
        assert_eq!(
            *lines.lock().unwrap(),
            vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec(), Vec::new()]
        );
        assert_eq!(counters.sent.load(std::sync::atomic::Ordering::Relaxed), 3);
    }
}
