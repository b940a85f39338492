//! The `sigbox:signature/host` interface, in every contract version:
//! functions a signature may call. 0.3's interface is 0.2's under a new
//! version, so the same functions serve both; 0.3 adds `ancestors`.

use std::sync::Arc;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, WasmStr};

use super::bindings::v2::sigbox::signature::types::Value as GuestValue;
use super::bindings::{v1, v2, v3};
use super::contract;
use super::guest_output::MAX_LINE;
use super::host_state::HostState;
use crate::event::fields::EventField;
use crate::event::{Event, Value};

/// The host interface's instance names, as guests import them.
const HOST_INTERFACE_V1: &str = "sigbox:signature/host@0.1.0";
const HOST_INTERFACE_V2: &str = "sigbox:signature/host@0.2.0";
const HOST_INTERFACE_V3: &str = "sigbox:signature/host@0.3.0";

/// Field names are at most this long (see `guest_values`); a longer one
/// names no field, so it is not copied out of the guest.
const MAX_FIELD_NAME: usize = 64;

impl v1::sigbox::signature::host::Host for HostState {
    /// Logs through the signature's budget. (Replaced at link time by
    /// [`add_bounded_imports`], which reads the message in place; kept
    /// because the generated bindings require it.)
    fn log(&mut self, level: v1::sigbox::signature::host::LogLevel, message: String) {
        self.output
            .emit(tracing_level(level as u8), "log", &message);
    }
}

impl v1::sigbox::signature::types::Host for HostState {}

impl v2::sigbox::signature::host::Host for HostState {
    /// As for 0.1 (replaced at link time).
    fn log(&mut self, level: v2::sigbox::signature::host::LogLevel, message: String) {
        self.output
            .emit(tracing_level(level as u8), "log", &message);
    }

    /// As [`read_field`] (replaced at link time by a version that does not
    /// copy an over-long name).
    fn read_field(&mut self, event: u32, name: String) -> GuestValue {
        read_field(&self.batch, event, &name)
    }
}

impl v2::sigbox::signature::types::Host for HostState {}

impl v3::sigbox::signature::host::Host for HostState {
    /// As for 0.1 (replaced at link time).
    fn log(&mut self, level: v3::sigbox::signature::host::LogLevel, message: String) {
        self.output
            .emit(tracing_level(level as u8), "log", &message);
    }

    /// As for 0.2 (replaced at link time).
    fn read_field(&mut self, event: u32, name: String) -> v3::sigbox::signature::types::Value {
        contract::to_v3::value_out(read_event_field(&self.batch, event, &name))
    }

    /// The event's ancestry, as the source attached it (0.3 only).
    fn ancestors(&mut self, event: u32) -> Vec<v3::sigbox::signature::types::Ancestor> {
        self.batch
            .get(event as usize)
            .map(|event| {
                event
                    .context
                    .ancestors
                    .iter()
                    .map(contract::ancestor_out)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl v3::sigbox::signature::types::Host for HostState {}

/// A field of the event at `index` of the batch being evaluated, as a 0.2
/// (and, the shape being the same, 0.3) guest value.
fn read_field(batch: &[Arc<Event>], index: u32, name: &str) -> GuestValue {
    contract::to_v2::value_out(read_event_field(batch, index, name))
}

/// A field of the event at `index` of the batch being evaluated; `none`
/// past the batch or for a name too long to be a field's.
fn read_event_field(batch: &[Arc<Event>], index: u32, name: &str) -> Value {
    match batch.get(index as usize) {
        Some(event) if name.len() <= MAX_FIELD_NAME => {
            EventField::resolve(event.name(), name).value(event)
        }
        _ => Value::None,
    }
}

/// Replaces the generated imports that take strings with ones that read
/// them in the guest's memory and copy a bounded prefix: a guest logging a
/// 60 MiB string costs the host 4 KiB ([`MAX_LINE`]), not 60 MiB.
///
/// # Errors
/// wasmtime rejected a definition (a bug: the interfaces are fixed).
pub fn add_bounded_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(HOST_INTERFACE_V1)?.func_wrap(
        "log",
        |store: StoreContextMut<'_, HostState>,
         (level, message): (v1::sigbox::signature::host::LogLevel, WasmStr)| {
            bounded_log(store, level as u8, &message)
        },
    )?;
    // 0.2's and 0.3's host interfaces are the same functions of the same
    // types; the component model checks types by shape, so one wrapper
    // serves both.
    for interface in [HOST_INTERFACE_V2, HOST_INTERFACE_V3] {
        let mut host = linker.instance(interface)?;
        host.func_wrap(
            "log",
            |store: StoreContextMut<'_, HostState>,
             (level, message): (v2::sigbox::signature::host::LogLevel, WasmStr)| {
                bounded_log(store, level as u8, &message)
            },
        )?;
        host.func_wrap(
            "read-field",
            |store: StoreContextMut<'_, HostState>, (event, name): (u32, WasmStr)| {
                let text = name.to_str(&store)?;
                Ok((read_field(&store.data().batch, event, &text),))
            },
        )?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

fn bounded_log(
    store: StoreContextMut<'_, HostState>,
    level: u8,
    message: &WasmStr,
) -> wasmtime::Result<()> {
    let text = message.to_str(&store)?;
    let mut end = text.len().min(MAX_LINE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let line = text[..end].to_owned();
    store.data().output.emit(tracing_level(level), "log", &line);
    Ok(())
}

/// Both versions' `log-level` enums have the same cases in the same order.
fn tracing_level(level: u8) -> tracing::Level {
    match level {
        0 => tracing::Level::TRACE,
        1 => tracing::Level::DEBUG,
        2 => tracing::Level::INFO,
        3 => tracing::Level::WARN,
        _ => tracing::Level::ERROR,
    }
}
