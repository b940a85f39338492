//! The process-wide wasmtime engine and linker that every signature shares.
//!
//! Compiling and linking are expensive and stateless, so they happen once here;
//! each signature then gets its own store and instance (see [`crate::engine::signature::loaded`]).

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings::{v1, v2, v3};
use super::cache::{self, CompileCache};
use super::compiler::{self, CompileLimits, CompileMode};
use super::epoch::EpochTicker;
use super::host_state::HostState;
use super::limits::Limits;

pub use super::epoch::EPOCH_TICK;

/// How to build a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Resource limits applied to each signature.
    pub limits: Limits,
    /// Whether compiled signatures are kept in an on-disk compile cache.
    pub compile_cache: bool,
    /// The compile cache directory; `None` means [`cache::default_dir`]
    /// (`$SIGBOX_CACHE_DIR`, `/var/cache/sigbox` for root, else
    /// `$XDG_CACHE_HOME/sigbox` or `~/.cache/sigbox`).
    pub cache_dir: Option<PathBuf>,
    /// Where modules are compiled (the daemon: a bounded child process).
    pub compile: CompileMode,
    /// Whether a module that exports `flat-detector` gets its batches as one
    /// buffer (the default); off, it gets them as typed lists, as a module
    /// without it does (for benchmarks comparing the two).
    pub flat_batches: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            compile_cache: true,
            cache_dir: None,
            compile: CompileMode::InProcess,
            flat_batches: true,
        }
    }
}

/// The shared wasmtime engine plus a linker providing the signature world's imports.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    limits: Limits,
    cache: Option<Arc<CompileCache>>,
    compile: CompileMode,
    ticker: Arc<EpochTicker>,
    flat_batches: bool,
}

impl Runtime {
    /// [`Runtime::with_options`] with `limits` and the default compile cache.
    ///
    /// # Errors
    /// Fails if wasmtime cannot be configured for this machine.
    pub fn new(limits: Limits) -> anyhow::Result<Self> {
        Self::with_options(RuntimeOptions {
            limits,
            ..RuntimeOptions::default()
        })
    }

    /// The runtime the daemon uses: like [`Runtime::new`], but modules are
    /// compiled in a child process bounded by `limits`' compile limits (see
    /// [`super::compiler`]).
    ///
    /// # Errors
    /// Fails if wasmtime cannot be configured for this machine.
    pub(crate) fn for_daemon(limits: Limits) -> anyhow::Result<Self> {
        let compile = CompileMode::Child(CompileLimits {
            time: limits.compile_time,
            memory_bytes: limits.compile_memory_bytes,
        });
        Self::with_options(RuntimeOptions {
            limits,
            compile,
            ..RuntimeOptions::default()
        })
    }

    /// Creates the engine (with epoch interruption, so a runaway guest traps), a
    /// linker offering the `host` interface plus WASI with nothing behind it,
    /// and opens the compile cache. A cache directory that cannot be created or
    /// is not private to this user disables the cache with a warning.
    ///
    /// # Errors
    /// Fails if wasmtime cannot be configured for this machine.
    pub fn with_options(options: RuntimeOptions) -> anyhow::Result<Self> {
        let RuntimeOptions {
            limits,
            compile_cache,
            cache_dir,
            compile,
            flat_batches,
        } = options;
        let engine = Engine::new(&engine_config(limits.wasm_stack_bytes))?;

        let mut linker = Linker::new(&engine);
        v3::Signature::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;
        v2::Signature::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;
        v1::Signature::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;
        super::host_api::add_bounded_imports(&mut linker)?;
        // Guests compiled with Rust's std import WASI; the context behind it is
        // empty and nothing in it waits (see `super::wasi`).
        super::wasi::add_to_linker(&mut linker)?;

        let cache = if compile_cache {
            open_cache(cache_dir, &engine)
        } else {
            None
        };

        let ticker = EpochTicker::spawn(engine.weak());
        Ok(Self {
            ticker,
            engine,
            linker: Arc::new(linker),
            limits,
            cache,
            compile,
            flat_batches,
        })
    }

    /// Whether modules exporting `flat-detector` are called through it
    /// ([`RuntimeOptions::flat_batches`]).
    pub(crate) fn flat_batches(&self) -> bool {
        self.flat_batches
    }

    /// Compiles a component, or loads it from the compile cache. `sha256` is
    /// the hex sha256 of `bytes` (the cache key, with the engine's hash).
    ///
    /// # Errors
    /// The bytes are not a valid component. Cache problems are logged, never
    /// returned.
    pub(crate) fn compile(&self, bytes: &[u8], sha256: &str) -> wasmtime::Result<Component> {
        let digest = <[u8; 32]>::try_from(hex::decode(sha256).unwrap_or_default());
        let compile = || match &self.compile {
            CompileMode::InProcess => Component::from_binary(&self.engine, bytes),
            CompileMode::Child(limits) => compiler::compile_in_child(
                &self.engine,
                bytes,
                self.limits.wasm_stack_bytes,
                limits,
            ),
        };
        match (&self.cache, digest) {
            (Some(cache), Ok(digest)) => cache
                .load_or_compile_with(&self.engine, &digest, compile)
                .map(|(component, _)| component),
            _ => compile(),
        }
    }

    /// The compile cache, if one is in use.
    #[cfg(test)]
    pub(crate) fn compile_cache(&self) -> Option<&CompileCache> {
        self.cache.as_deref()
    }

    /// The wasmtime engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker holding every import a signature may use.
    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// The resource limits applied to each signature.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The epoch ticker guest calls mark themselves busy with.
    pub(crate) fn ticker(&self) -> &Arc<EpochTicker> {
        &self.ticker
    }
}

/// The engine configuration: epoch interruption (so a runaway guest traps),
/// the component model, the wasm stack limit. One function, so the compile
/// worker's engine matches the daemon's exactly.
pub fn engine_config(wasm_stack_bytes: usize) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Epochs bound time per call at the cost of a cheap check on loop
    // back-edges; fuel would count every instruction and cost more.
    config.epoch_interruption(true);
    config.max_wasm_stack(wasm_stack_bytes);
    // `SIGBOX_PERFMAP=1` writes /tmp/perf-<pid>.map so `perf report`
    // names guest functions (profiling only; off by default).
    if std::env::var_os("SIGBOX_PERFMAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// Opens the compile cache in `dir` (or the default directory), or logs why not.
fn open_cache(dir: Option<PathBuf>, engine: &Engine) -> Option<Arc<CompileCache>> {
    let Some(dir) = dir.or_else(cache::default_dir) else {
        tracing::warn!("compile cache disabled: no cache directory (set SIGBOX_CACHE_DIR)");
        return None;
    };
    match CompileCache::open(&dir, engine) {
        Ok(cache) => {
            tracing::debug!("compile cache in {}", dir.display());
            Some(Arc::new(cache))
        }
        Err(error) => {
            tracing::warn!("compile cache disabled: {}: {error}", dir.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sigbox-runtime-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    fn options(cache_dir: &std::path::Path) -> RuntimeOptions {
        RuntimeOptions {
            cache_dir: Some(cache_dir.to_owned()),
            ..RuntimeOptions::default()
        }
    }

    #[test]
    fn insecure_cache_directory_disables_the_cache() {
        let dir = temp_dir("insecure");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let runtime = Runtime::with_options(options(&dir)).unwrap();
        assert!(runtime.compile_cache().is_none());
        // Modules still compile without it.
        let bytes = wat::parse_str("(component)").unwrap();
        runtime.compile(&bytes, &"00".repeat(32)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compile_goes_through_the_cache() {
        let dir = temp_dir("cache");
        let runtime = Runtime::with_options(options(&dir.join("c"))).unwrap();
        let cache = runtime
            .compile_cache()
            .expect("a private directory is used");
        let bytes = wat::parse_str("(component)").unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        runtime.compile(&bytes, &sha).unwrap();
        let digest: [u8; 32] = hex::decode(&sha).unwrap().try_into().unwrap();
        assert!(cache.entry_path(&digest).is_file());
        let disabled = Runtime::with_options(RuntimeOptions {
            compile_cache: false,
            ..options(&dir.join("c"))
        })
        .unwrap();
        assert!(disabled.compile_cache().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
