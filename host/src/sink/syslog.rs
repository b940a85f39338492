//! Findings to the local syslog daemon: one RFC 5424 message per record,
//! facility `daemon`, severity `warning`, on the `/dev/log` datagram socket
//! (or another, `--syslog-socket`). A datagram is sent or dropped, never
//! waited on.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::fanout::LineOutput;
use crate::telemetry::OutputCounters;

/// The usual local syslog socket.
pub const DEV_LOG: &str = "/dev/log";
/// `<PRI>` for facility daemon (3) and severity warning (4).
const PRIORITY: u32 = 3 * 8 + 4;
/// Bytes of a record sent at most (longer ones are cut; the rest is in the
/// other outputs).
const MAX_MESSAGE: usize = 8192;

/// The syslog output.
pub(crate) struct Syslog {
    socket: UnixDatagram,
    path: PathBuf,
    hostname: String,
    counters: Arc<OutputCounters>,
    failing: bool,
}

impl Syslog {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    /// The socket cannot be reached (the message names it and the option).
    pub(crate) fn connect(path: PathBuf, counters: Arc<OutputCounters>) -> anyhow::Result<Self> {
        let socket = UnixDatagram::unbound().context("cannot create a datagram socket")?;
        socket.connect(&path).with_context(|| {
            format!(
                "cannot reach the syslog socket {} (--syslog-socket PATH names another)",
                path.display()
            )
        })?;
        socket
            .set_nonblocking(true)
            .context("making the syslog socket non-blocking")?;
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "-".to_owned());
        Ok(Self {
            socket,
            path,
            hostname,
            counters,
            failing: false,
        })
    }

    fn message(&self, line: &[u8]) -> Vec<u8> {
        let header = format!(
            "<{PRIORITY}>1 {} {} sigbox {} finding - ",
            crate::utc_time(crate::engine::unix_ms(std::time::SystemTime::now())),
            self.hostname,
            std::process::id()
        );
        let mut message = header.into_bytes();
        message.extend_from_slice(&line[..line.len().min(MAX_MESSAGE)]);
        message
    }
}

impl LineOutput for Syslog {
    fn line(&mut self, line: &[u8]) {
        match self.socket.send(&self.message(line)) {
            Ok(_) => {
                OutputCounters::add(&self.counters.sent, 1);
                self.failing = false;
            }
            Err(error) => {
                OutputCounters::add(&self.counters.dropped, 1);
                if !self.failing {
                    tracing::error!(
                        "cannot send findings to syslog at {}: {error}; counting them as dropped",
                        self.path.display()
                    );
                    self.failing = true;
                }
            }
        }
    }
}
