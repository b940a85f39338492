//! The `sigbox:signature/host` interface: functions a signature may call.

use super::bindings::sigbox::signature::host::{Host, LogLevel};
use super::host_state::HostState;

/// The longest message a signature may log; longer ones are cut.
const MAX_LOG_MESSAGE: usize = 4096;

impl Host for HostState {
    fn log(&mut self, level: LogLevel, mut message: String) {
        if message.len() > MAX_LOG_MESSAGE {
            let mut cut = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("…[truncated]");
        }
        let signature = self.log_tag.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(target: "sigbox::guest", signature, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "sigbox::guest", signature, "{message}"),
            LogLevel::Info => tracing::info!(target: "sigbox::guest", signature, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "sigbox::guest", signature, "{message}"),
            LogLevel::Error => tracing::error!(target: "sigbox::guest", signature, "{message}"),
        }
    }
}

impl super::bindings::sigbox::signature::types::Host for HostState {}
