//! Rust types and glue generated from the two contracts the host serves:
//! `wit/signature.wit` (0.2, what new signatures target) and the frozen
//! `wit/v0.1/signature.wit` (0.1, still loaded).
//!
//! The host's own data model is the 0.1 `event` record (it holds every field
//! a source fills in) plus the types both versions share, re-exported by
//! [`crate::wit`]; [`super::contract`] converts between the versions.

/// The 0.2 world (`sigbox:signature@0.2.0`).
pub mod v2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "signature",
        additional_derives: [PartialEq],
    });
}

/// The 0.1 world (`sigbox:signature@0.1.0`), frozen.
pub mod v1 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
        world: "signature",
    });
}
