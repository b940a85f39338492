//! sigbox: runtime-security detections as sandboxed WebAssembly components.
//!
//! The crate is split the way events flow:
//! - [`source`]: where events come from (Tracee JSON replay, the live eBPF collector);
//! - [`engine`]: the wasmtime runtime that loads signatures and dispatches events to them;
//! - [`sink`]: how findings are written (Tracee-compatible JSON, text).

pub mod app;
pub mod bench;
pub mod config;
pub mod engine;
pub mod pipeline;
pub mod policy_file;
pub mod privilege;
pub mod sink;
pub mod source;
pub mod status;

pub use app::run;
pub use config::{Command, DaemonOptions, Input, ReplayOptions};

/// The WIT types shared with signatures, under short names.
pub mod wit {
    pub use crate::engine::bindings::sigbox::signature::host::LogLevel;
    pub use crate::engine::bindings::sigbox::signature::types::{
        Event, EventSelector, ExecArgs, Field, FieldFilter, Finding, Metadata, Origin,
        OriginFilter, Payload, Properties, Signal, Value,
    };
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
