//! The process-wide wasmtime engine and linker that every signature shares.
//!
//! Compiling and linking are expensive and stateless, so they happen once here;
//! each signature then gets its own store and instance (see [`super::signature`]).

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings::Signature;
use super::host_state::HostState;
use super::limits::Limits;

/// How often the epoch advances. A guest call may run for
/// `Limits::cpu_per_event` rounded up to this granularity before it traps.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The shared wasmtime engine plus a linker providing the signature world's imports.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    limits: Limits,
}

impl Runtime {
    /// Creates the engine (with epoch interruption, so a runaway guest traps) and
    /// a linker offering the `host` interface plus WASI with nothing behind it.
    ///
    /// # Errors
    /// Fails if wasmtime cannot be configured for this machine.
    pub fn new(limits: Limits) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // Epochs bound CPU per call at the cost of a cheap check on loop
        // back-edges; fuel would count every instruction and cost more.
        config.epoch_interruption(true);
        config.max_wasm_stack(limits.wasm_stack_bytes);
        let engine = Engine::new(&config)?;

        let mut linker = Linker::new(&engine);
        Signature::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;
        // Guests compiled with Rust's std import WASI; the context behind it is
        // empty (see `HostState::new`), so these imports grant nothing.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;

        spawn_epoch_ticker(engine.weak());
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            limits,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker holding every import a signature may use.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// The resource limits applied to each signature.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn spawn_epoch_ticker(engine: wasmtime::EngineWeak) {
    thread::Builder::new()
        .name("sigbox-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}
