//! The `sigbox:signature/host` interface: functions a signature may call.

use super::bindings::sigbox::signature::host::{Host, LogLevel};
use super::host_state::HostState;

impl Host for HostState {
    /// Logs through the signature's budget: tagged with its id, cut at 4 KiB,
    /// dropped and counted beyond its bytes-per-second limit.
    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        };
        self.output.emit(level, "log", &message);
    }
}

impl super::bindings::sigbox::signature::types::Host for HostState {}
