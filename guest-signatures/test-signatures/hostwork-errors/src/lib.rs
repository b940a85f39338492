//! HOSTWORK-ERRORS: a test-only 0.2 module that returns an error for every
//! event, every error string pointing at the same 16 MiB of its memory. The
//! host lifting each into a string of its own would copy 16 MiB per event
//! (a GiB per batch of 64) for a message it keeps 1 KiB of; the host must
//! refuse the output before copying it. It sees only execs of a program
//! named `hwerrors` (a host filter).

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.2",
        world: "signature",
    });
}

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::OnceLock;

use bindings::exports::sigbox::signature::detector::Guest;
use bindings::sigbox::signature::types::{
    Event, EventSelector, Field, FieldFilter, Metadata, OriginFilter, Outcome, Properties, Signal,
};

/// Bytes of the one error message every outcome points at.
const MESSAGE: usize = 16 << 20;

/// The system allocator, except that the shared message is never freed:
/// the bindings free each outcome's string after the host read it, and
/// they all are the same one.
struct KeepsTheMessage;

// SAFETY: forwards to `System`; skipping a free only leaks.
unsafe impl GlobalAlloc for KeepsTheMessage {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // `get`, not `message()`: freeing must never allocate.
        if MESSAGE_AT.get().is_some_and(|&(at, _)| at == ptr as usize) {
            return;
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: KeepsTheMessage = KeepsTheMessage;

/// The shared message's address (as an integer, so it can sit in a
/// static) and length, once made.
static MESSAGE_AT: OnceLock<(usize, usize)> = OnceLock::new();

/// The shared message's address and length, made on first use.
fn message() -> (usize, usize) {
    *MESSAGE_AT.get_or_init(|| {
        let text = "x".repeat(MESSAGE).leak();
        (text.as_ptr() as usize, text.len())
    })
}

/// A string aliasing the shared message.
fn shared_message() -> String {
    let (ptr, len) = message();
    // SAFETY: the bytes are valid UTF-8 and live for ever; the allocator
    // never frees them, so the aliases' drops are harmless.
    unsafe { String::from_raw_parts(ptr as *mut u8, len, len) }
}

struct HostworkErrors;

impl Guest for HostworkErrors {
    fn get_metadata() -> Metadata {
        Metadata {
            id: "HOSTWORK-ERRORS".into(),
            version: "1".into(),
            name: "Errors aliasing one large string (test only)".into(),
            event_name: "hostwork_errors".into(),
            description:
                "Returns an error per event, all pointing at one 16 MiB string. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties {
                severity: 0,
                category: String::new(),
                technique: String::new(),
                kubernetes_technique: String::new(),
                mitre_id: String::new(),
                external_id: String::new(),
                extra: vec![],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector {
            name: "sched_process_exec".into(),
            origin: OriginFilter::Any,
            filters: vec![FieldFilter {
                field: "process-name".into(),
                any_of: vec!["hwerrors".into()],
            }],
            fields: vec![],
        }]
    }

    fn init(_config: Vec<Field>) -> Result<(), String> {
        message();
        Ok(())
    }

    fn on_events(events: Vec<Event>) -> Vec<Outcome> {
        (0..events.len() as u32)
            .map(|event| Outcome {
                event,
                findings: Err(shared_message()),
            })
            .collect()
    }

    fn on_signal(_signal: Signal) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(HostworkErrors with_types_in bindings);
