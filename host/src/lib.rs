//! sigbox: runtime-security detections as sandboxed WebAssembly components.
//!
//! The crate is split the way events flow:
//! - [`source`]: where events come from (Tracee JSON replay, the live eBPF collector);
//! - [`engine`]: the wasmtime runtime that loads signatures and dispatches events to them;
//! - [`sink`]: how findings are written (Tracee-compatible JSON, text).
//!
//! Modules and items are crate-private unless the binary, the benches or the
//! fuzz crate use them, so the compiler reports dead code.

mod app;
pub mod bench;
pub mod config;
mod descriptors;
pub mod engine;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
// The fuzz crate's code, replayed by `fuzz_replay`, names this crate `sigbox`.
#[cfg(test)]
extern crate self as sigbox;
#[cfg(test)]
mod fuzz_replay;
pub mod logging;
pub mod pipeline;
pub mod policy_file;
mod privilege;
pub mod registry;
pub mod scaffold;
mod sched_slice;
pub mod sink;
pub mod source;
mod status;
pub mod telemetry;
pub mod trust;
mod vectors;

pub use app::run;
pub use config::{Command, DaemonOptions, Input, ReplayOptions};

/// The reader of stdout has gone (EPIPE): a normal way for a consumer to
/// stop reading, which `main` turns into a quiet exit, not an error.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
pub struct StdoutClosed;

/// Prints a line on stdout, for commands that keep SIGPIPE ignored because
/// they also write to pipes and sockets that may close (see `main`).
///
/// # Errors
/// [`StdoutClosed`] when the reader has gone; any other write error.
pub fn print_line(line: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        result => Ok(result?),
    }
}

/// An error and its causes, joined with `: ` (for one-line log messages).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `text` with control characters escaped (`\n`, `\u{1b}`, …), so text
/// that came from a guest, an input file or a file name can be printed in a
/// log line or a table without starting a new line or driving the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A Unix time in milliseconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn utc_time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_time_formats_unix_milliseconds() {
        assert_eq!(super::utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc_time(1_795_876_200_123), "2026-11-28T14:30:00Z");
        assert_eq!(super::utc_time(951_825_600_000), "2000-02-29T12:00:00Z");
    }

    #[test]
    fn printable_escapes_control_characters_only() {
        assert_eq!(super::printable("TRC-1016 é"), "TRC-1016 é");
        assert_eq!(
            super::printable("a\nsigbox: summary\u{1b}[2J\u{9b}"),
            "a\\nsigbox: summary\\u{1b}[2J\\u{9b}"
        );
    }
}
