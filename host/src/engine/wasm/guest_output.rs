//! What a signature writes — host `log` calls, stdout, stderr — goes to the
//! sigbox log, tagged with the signature id and held to a byte budget.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The longest line logged at once; longer lines are cut.
pub const MAX_LINE: usize = 4096;

/// What a log line costs beyond its message (timestamp, level, fields), so
/// a flood of short lines is held to the budget as well as long ones.
const LINE_OVERHEAD: usize = 128;

/// A signature's log budget: `bytes_per_sec`, refilled continuously, with up
/// to one second of burst. What does not fit is dropped and counted.
#[derive(Debug)]
pub struct LogBudget {
    state: Mutex<BudgetState>,
    bytes_per_sec: usize,
}

#[derive(Debug)]
struct BudgetState {
    tag: String,
    available: f64,
    refilled: Instant,
    dropped_bytes: u64,
    /// Dropped bytes already reported in a log line.
    reported: u64,
}

impl LogBudget {
    /// A full budget for the signature tagged `tag`.
    pub fn new(tag: String, bytes_per_sec: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(BudgetState {
                tag,
                available: bytes_per_sec as f64,
                refilled: Instant::now(),
                dropped_bytes: 0,
                reported: 0,
            }),
            bytes_per_sec,
        })
    }

    /// Renames the tag (the id is known only after `get-metadata`).
    pub fn set_tag(&self, tag: &str) {
        tag.clone_into(&mut self.lock().tag);
    }

    /// Bytes dropped so far for exceeding the budget.
    pub fn dropped_bytes(&self) -> u64 {
        self.lock().dropped_bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs `message` from `stream` at `level` if the budget allows.
    pub fn emit(&self, level: tracing::Level, stream: &str, message: &str) {
        let mut state = self.lock();
        let now = Instant::now();
        let rate = self.bytes_per_sec as f64;
        state.available =
            (state.available + now.duration_since(state.refilled).as_secs_f64() * rate).min(rate);
        state.refilled = now;
        // The tag (the signature id) is part of every line it costs.
        let cost = (message.len().min(MAX_LINE) + state.tag.len() + LINE_OVERHEAD) as f64;
        if cost > state.available {
            state.dropped_bytes += message.len() as u64;
            return;
        }
        state.available -= cost;
        let message = cut(message);
        let unreported = state.dropped_bytes - state.reported;
        state.reported = state.dropped_bytes;
        let signature = state.tag.as_str();
        if unreported > 0 {
            tracing::warn!(target: "sigbox::guest", signature = %signature, "dropped {unreported} bytes of output over the log budget");
        }
        match level {
            tracing::Level::TRACE => {
                tracing::trace!(target: "sigbox::guest", signature = %signature, stream, "{message}")
            }
            tracing::Level::DEBUG => {
                tracing::debug!(target: "sigbox::guest", signature = %signature, stream, "{message}")
            }
            tracing::Level::INFO => {
                tracing::info!(target: "sigbox::guest", signature = %signature, stream, "{message}")
            }
            tracing::Level::WARN => {
                tracing::warn!(target: "sigbox::guest", signature = %signature, stream, "{message}")
            }
            tracing::Level::ERROR => {
                tracing::error!(target: "sigbox::guest", signature = %signature, stream, "{message}")
            }
        }
    }
}

fn cut(message: &str) -> &str {
    if message.len() <= MAX_LINE {
        return message;
    }
    let mut end = MAX_LINE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// A guest's stdout or stderr: complete lines are logged through the budget.
#[derive(Clone)]
pub struct GuestOutput {
    budget: Arc<LogBudget>,
    stream: &'static str,
    level: tracing::Level,
}

impl GuestOutput {
    /// stdout (logged at info) or stderr (at warn) of the signature behind `budget`.
    pub fn new(budget: Arc<LogBudget>, stream: &'static str) -> Self {
        let level = if stream == "stderr" {
            tracing::Level::WARN
        } else {
            tracing::Level::INFO
        };
        Self {
            budget,
            stream,
            level,
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter::new(self.clone()))
    }

    /// A stream that is always ready and writes synchronously: wasmtime-wasi's
    /// default adapter would buffer in a background task, which a guest could
    /// keep busy and which needs an async runtime.
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter::new(self.clone()))
    }
}

/// How many bytes a guest may hand over in one write; each write is
/// processed before the call returns.
const WRITE_PERMIT: usize = 64 << 10;

/// Splits writes into lines; a partial line waits for its end (or is cut
/// at [`MAX_LINE`]), so at most [`MAX_LINE`] bytes are ever held.
struct LineWriter {
    output: GuestOutput,
    pending: Vec<u8>,
}

impl LineWriter {
    fn new(output: GuestOutput) -> Self {
        Self {
            output,
            pending: Vec::new(),
        }
    }

    fn push(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            let room = MAX_LINE - self.pending.len();
            match buf.iter().take(room).position(|&b| b == b'\n') {
                Some(end) => {
                    self.pending.extend_from_slice(&buf[..end]);
                    buf = &buf[end + 1..];
                    self.emit_pending();
                }
                None => {
                    let take = room.min(buf.len());
                    self.pending.extend_from_slice(&buf[..take]);
                    buf = &buf[take..];
                    if self.pending.len() >= MAX_LINE {
                        self.emit_pending();
                    }
                }
            }
        }
    }

    fn emit_pending(&mut self) {
        let line = std::mem::take(&mut self.pending);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if !text.is_empty() {
            self.output
                .budget
                .emit(self.output.level, self.output.stream, text);
        }
    }
}

impl Drop for LineWriter {
    /// A last partial line is logged when the guest drops its stream.
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit_pending();
        }
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    /// Always ready: writes never wait.
    async fn ready(&mut self) {}
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.pending.is_empty() {
            self.emit_pending();
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_drops_and_counts_the_excess() {
        let budget = LogBudget::new("T".into(), 2 * LINE_OVERHEAD + 100);
        budget.emit(tracing::Level::INFO, "log", &"x".repeat(60));
        assert_eq!(budget.dropped_bytes(), 0);
        budget.emit(tracing::Level::INFO, "log", &"x".repeat(60));
        assert_eq!(
            budget.dropped_bytes(),
            60,
            "the second line exceeds the budget"
        );
    }

    #[test]
    fn writes_are_split_into_lines_and_long_lines_are_cut() {
        let budget = LogBudget::new("T".into(), 1 << 20);
        let mut writer = LineWriter::new(GuestOutput::new(budget, "stdout"));
        writer.push(b"one\ntw");
        assert_eq!(writer.pending, b"tw");
        writer.push(b"o\n");
        assert!(writer.pending.is_empty());
        writer.push(&vec![b'x'; MAX_LINE * 2 + 10]);
        assert_eq!(
            writer.pending.len(),
            10,
            "two full lines were cut and logged"
        );
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let line = "é".repeat(MAX_LINE);
        let cut = cut(&line);
        assert!(cut.len() <= MAX_LINE);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
