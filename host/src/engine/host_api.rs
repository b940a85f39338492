//! The `sigbox:signature/host` interface: functions a signature may call.

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, WasmStr};

use super::bindings::sigbox::signature::host::{Host, LogLevel};
use super::guest_output::MAX_LINE;
use super::host_state::HostState;

/// The host interface's instance name, as guests import it.
const HOST_INTERFACE: &str = "sigbox:signature/host@0.1.0";

impl Host for HostState {
    /// Logs through the signature's budget. (Replaced at link time by
    /// [`add_bounded_log`], which reads the message in place; kept because the
    /// generated bindings require it.)
    fn log(&mut self, level: LogLevel, message: String) {
        self.output.emit(tracing_level(level), "log", &message);
    }
}

impl super::bindings::sigbox::signature::types::Host for HostState {}

/// Replaces the generated `log` import with one that reads the message in
/// the guest's memory and copies at most [`MAX_LINE`] bytes of it: a guest
/// logging a 60 MiB string costs the host 4 KiB, not 60 MiB.
///
/// # Errors
/// wasmtime rejected the definition (a bug: the interface is fixed).
pub fn add_bounded_log(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(HOST_INTERFACE)?.func_wrap(
        "log",
        |store: StoreContextMut<'_, HostState>, (level, message): (LogLevel, WasmStr)| {
            let text = message.to_str(&store)?;
            let mut end = text.len().min(MAX_LINE);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let line = text[..end].to_owned();
            store.data().output.emit(tracing_level(level), "log", &line);
            Ok(())
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn tracing_level(level: LogLevel) -> tracing::Level {
    match level {
        LogLevel::Trace => tracing::Level::TRACE,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    }
}
