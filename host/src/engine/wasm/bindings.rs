//! Rust types and glue generated from the three contracts the host serves
//! (and 0.3's `pack` world):
//! `wit/signature.wit` (0.3, what new signatures target) and the frozen
//! `wit/v0.2/signature.wit` (0.2) and `wit/v0.1/signature.wit` (0.1).
//!
//! Only the engine's wasm plumbing (linking, calls, host functions) touches
//! these types; [`super::contract`] converts the values that cross to and
//! from the host's own ([`crate::event`], [`super::model`]).

/// The 0.3 world (`sigbox:signature@0.3.0`).
pub mod v3 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "signature",
    });
}

/// The 0.2 world (`sigbox:signature@0.2.0`), frozen.
pub mod v2 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2",
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

/// The 0.3 `pack` world: several detectors in one component. Its types and
/// host functions are 0.3's.
pub mod pack {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "pack",
        with: {
            "sigbox:signature/types": super::v3::sigbox::signature::types,
            "sigbox:signature/host": super::v3::sigbox::signature::host,
        },
    });
}
