//! Rust types and glue generated from `wit/signature.wit`.
//!
//! Everything the host exchanges with a signature is one of these types; the
//! rest of the crate uses them directly (through [`crate::wit`]) so events are
//! built once, in the form the guest receives.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "signature",
});
