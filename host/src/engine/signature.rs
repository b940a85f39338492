//! One loaded signature: its compiled component, its instance and its metadata.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Store, Trap};

use super::bindings::{Signature, SignaturePre};
use super::error::{EvalError, LoadError, bounded_message, cause};
use super::guest_output::LogBudget;
use super::guest_values;
use super::host_state::{HostState, store_limits};
use super::limits::{Limits, Policy};
use super::runtime::Runtime;
use crate::wit::{Event, EventSelector, Field, Finding, Metadata, Signal};

/// What a signature file declares about itself, read at load time.
#[derive(Debug, Clone)]
pub struct SignatureInfo {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Hex sha256 of the file's bytes.
    pub sha256: String,
    /// The signature's metadata.
    pub metadata: Metadata,
    /// The events it selected.
    pub selected_events: Vec<EventSelector>,
}

/// A signature ready to receive events: one store and one instance, reused for
/// every event so that a signature can keep state between events. After a
/// trap the instance is rebuilt fresh from the pre-instantiated component
/// (wasmtime does not let a trapped instance be entered again).
pub struct LoadedSignature {
    info: SignatureInfo,
    pre: SignaturePre<HostState>,
    engine: Engine,
    limits: Limits,
    config: Vec<Field>,
    output: Arc<LogBudget>,
    /// `None` after a trap whose rebuild failed.
    live: Option<Live>,
    /// How many times the instance was rebuilt after a trap.
    rebuilds: u64,
}

/// An instance and the store it lives in.
struct Live {
    store: Store<HostState>,
    instance: Signature,
}

impl LoadedSignature {
    /// Reads, validates, compiles and instantiates the file at `path`, then
    /// reads its metadata and calls `init` with `config`.
    ///
    /// # Errors
    /// A [`LoadError`] naming the file and what is wrong with it.
    pub fn load(runtime: &Runtime, path: &Path, config: &[Field]) -> Result<Self, LoadError> {
        let bytes = super::module_file::read(path, runtime.limits().module_bytes)?;
        Self::from_bytes(runtime, path, &bytes, config)
    }

    /// Like [`LoadedSignature::load`], for bytes already read from `path`,
    /// with the runtime's default limits.
    ///
    /// # Errors
    /// A [`LoadError`] naming `path` and what is wrong with the bytes.
    pub fn from_bytes(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        config: &[Field],
    ) -> Result<Self, LoadError> {
        let mut policy = Policy::uniform(runtime.limits().clone());
        policy.default_config = config.to_vec();
        Self::with_policy(runtime, path, bytes, &policy)
    }

    /// Loads `bytes` (read from `path`) with the limits and configuration
    /// `policy` gives the signature's id.
    ///
    /// # Errors
    /// A [`LoadError`] naming `path` and what is wrong with the bytes.
    pub fn with_policy(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        policy: &Policy,
    ) -> Result<Self, LoadError> {
        let path_buf = || path.to_owned();
        check_wasm_header(path, bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = runtime
            .compile(bytes, &sha256)
            .map_err(|e| LoadError::Compile {
                path: path_buf(),
                source: cause(e),
            })?;
        let pre = runtime
            .linker()
            .instantiate_pre(&component)
            .and_then(SignaturePre::new)
            .map_err(|e| LoadError::WrongWorld {
                path: path_buf(),
                source: cause(e),
            })?;

        // The id (and so the signature's own limits) is known only after
        // `get-metadata`; until then the defaults apply. Loading has its own
        // time budget, separate from the per-event one.
        let defaults = &policy.defaults;
        let tag = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        let output = LogBudget::new(
            crate::printable(&tag).into_owned(),
            defaults.log_bytes_per_sec,
        );
        let (mut store, instance) = instantiate(runtime.engine(), &pre, &output, defaults)
            .map_err(|e| load_failure(path, "instantiation", e, defaults))?;
        let detector = instance.sigbox_signature_detector();
        let metadata = detector
            .call_get_metadata(&mut store)
            .map_err(|e| load_failure(path, "get-metadata", e, defaults))?;
        let selected_events = detector
            .call_selected_events(&mut store)
            .map_err(|e| load_failure(path, "selected-events", e, defaults))?;
        guest_values::check_metadata(&metadata, &selected_events).map_err(|reason| {
            LoadError::Metadata {
                path: path_buf(),
                reason,
            }
        })?;

        let limits = policy.limits_for(&metadata.id).clone();
        let config = policy.config_for(&metadata.id).to_vec();
        output.set_tag(&metadata.id);
        let mut signature = Self {
            info: SignatureInfo {
                path: path_buf(),
                sha256,
                metadata,
                selected_events,
            },
            pre,
            engine: runtime.engine().clone(),
            limits,
            config,
            output,
            live: Some(Live { store, instance }),
            rebuilds: 0,
        };
        signature.apply_limits();
        signature.init().map_err(|error| match error {
            InitError::Trap(e) => load_failure(path, "init", e, &signature.limits),
            InitError::Refused(message) => LoadError::Init {
                path: path_buf(),
                id: signature.info.metadata.id.clone(),
                message: crate::printable(&bounded_message(message)).into_owned(),
            },
        })?;
        Ok(signature)
    }

    /// What the signature declared about itself.
    pub fn info(&self) -> &SignatureInfo {
        &self.info
    }

    /// The signature's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.info.metadata
    }

    /// The limits this signature runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many times the instance was rebuilt after a trap.
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds
    }

    /// Bytes of log output dropped for exceeding the log budget.
    pub fn dropped_log_bytes(&self) -> u64 {
        self.output.dropped_bytes()
    }

    /// Evaluates one event. A trap or a CPU, memory or stack limit hit
    /// rebuilds the instance before the next event.
    ///
    /// # Errors
    /// The signature's own error, a trap, a limit hit, or an instance that
    /// could not be rebuilt after an earlier trap.
    pub fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, EvalError> {
        let result = self.call(|detector, store| detector.call_on_event(store, event));
        let findings = result.and_then(|returned| {
            returned.map_err(|message| EvalError::Returned(bounded_message(message)))
        })?;
        self.check_findings(&findings)?;
        Ok(findings)
    }

    /// Tells the signature something happened to the stream.
    ///
    /// # Errors
    /// The signature's own error or a trap.
    pub fn on_signal(&mut self, signal: Signal) -> Result<(), EvalError> {
        let result = self.call(|detector, store| detector.call_on_signal(store, signal));
        result.and_then(|returned| {
            returned.map_err(|message| EvalError::Returned(bounded_message(message)))
        })
    }

    /// Calls into the guest under the CPU budget; classifies failures and
    /// rebuilds the instance when a failure left it unusable.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, EvalError> {
        let Some(live) = self.live.as_mut() else {
            // A previous rebuild failed; try again, it may have been transient.
            self.rebuild()?;
            return self.call(f);
        };
        let ticks = self.limits.cpu_ticks();
        live.store.data_mut().watchdog.start(ticks);
        live.store.set_epoch_deadline(ticks);
        let result = f(live.instance.sigbox_signature_detector(), &mut live.store);
        result.map_err(|error| {
            let error = classify(error, &self.limits);
            if error.poisons_instance()
                && let Err(rebuild) = self.rebuild()
            {
                tracing::error!(
                    signature = %self.info.metadata.id,
                    "cannot rebuild the instance after a trap: {}",
                    crate::error_chain(&rebuild)
                );
            }
            error
        })
    }

    /// The log budget its output (and its errors) go through.
    pub fn log_budget(&self) -> &Arc<LogBudget> {
        &self.output
    }

    /// Starts over with a fresh instance (after a quarantine ends).
    ///
    /// # Errors
    /// Instantiation or `init` failed.
    pub fn restart(&mut self) -> Result<(), EvalError> {
        self.rebuild()
    }

    /// Replaces the instance with a fresh one and runs `init` again.
    fn rebuild(&mut self) -> Result<(), EvalError> {
        self.live = None;
        let (store, instance) = instantiate(&self.engine, &self.pre, &self.output, &self.limits)
            .map_err(|e| EvalError::Unavailable(cause(e)))?;
        self.live = Some(Live { store, instance });
        self.rebuilds += 1;
        match self.init() {
            Ok(()) => Ok(()),
            Err(error) => {
                self.live = None;
                Err(EvalError::Unavailable(match error {
                    InitError::Trap(e) => cause(e),
                    InitError::Refused(message) => bounded_message(message).into(),
                }))
            }
        }
    }

    fn apply_limits(&mut self) {
        if let Some(live) = self.live.as_mut() {
            live.store.data_mut().store_limits = store_limits(&self.limits);
        }
    }

    fn init(&mut self) -> Result<(), InitError> {
        let live = self.live.as_mut().expect("init runs on a live instance");
        let ticks = self.limits.load_ticks();
        live.store.data_mut().watchdog.start(ticks);
        live.store.set_epoch_deadline(ticks);
        live.instance
            .sigbox_signature_detector()
            .call_init(&mut live.store, &self.config)
            .map_err(InitError::Trap)?
            .map_err(InitError::Refused)
    }

    /// Holds findings to the per-event count and per-finding size limits.
    fn check_findings(&self, findings: &[Finding]) -> Result<(), EvalError> {
        if findings.len() > self.limits.findings_per_event {
            return Err(EvalError::LimitHit {
                limit: "findings",
                detail: format!(
                    "{} findings for one event (at most {}; raise with findings_per_event)",
                    findings.len(),
                    self.limits.findings_per_event
                ),
            });
        }
        if let Some(error) = findings
            .iter()
            .find_map(|f| guest_values::check_finding(f).err())
        {
            return Err(EvalError::LimitHit {
                limit: "finding",
                detail: crate::printable(&error).into_owned(),
            });
        }
        if let Some(size) = findings
            .iter()
            .map(guest_values::finding_bytes)
            .find(|&size| size > self.limits.finding_bytes)
        {
            return Err(EvalError::LimitHit {
                limit: "finding size",
                detail: format!(
                    "a finding of {size} bytes (at most {}; raise with finding_kib)",
                    self.limits.finding_bytes
                ),
            });
        }
        Ok(())
    }
}

/// The exported interface, as the generated bindings name it.
type Guest = super::bindings::exports::sigbox::signature::detector::Guest;

enum InitError {
    Trap(wasmtime::Error),
    Refused(String),
}

/// A fresh store and instance under `limits`.
fn instantiate(
    engine: &Engine,
    pre: &SignaturePre<HostState>,
    output: &Arc<LogBudget>,
    limits: &Limits,
) -> wasmtime::Result<(Store<HostState>, Signature)> {
    let mut store = Store::new(engine, HostState::new(output.clone(), limits));
    store.limiter(|state| &mut state.store_limits);
    store.epoch_deadline_callback(super::watchdog::on_deadline);
    // Instantiation, get-metadata and selected-events share the load budget.
    let ticks = limits.load_ticks();
    store.data_mut().watchdog.start(ticks);
    store.set_epoch_deadline(ticks);
    let instance = pre.instantiate(&mut store)?;
    Ok((store, instance))
}

/// Names the limit a failed call ran into, if it was one.
fn classify(error: wasmtime::Error, limits: &Limits) -> EvalError {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return EvalError::LimitHit {
                limit: "cpu",
                detail: format!(
                    "was still using the CPU past its time limit of {:?} (raise with --cpu-limit-ms or cpu_ms)",
                    limits.cpu_per_event
                ),
            };
        }
        Some(Trap::StackOverflow) => {
            return EvalError::LimitHit {
                limit: "stack",
                detail: format!(
                    "used more than {} KiB of stack (raise with stack_kib)",
                    limits.wasm_stack_bytes >> 10
                ),
            };
        }
        _ => {}
    }
    // The store limiter refuses growth past the memory limit by trapping
    // (`trap_on_grow_failure`) with this message.
    if is_memory_limit(&error) {
        return EvalError::LimitHit {
            limit: "memory",
            detail: format!(
                "tried to grow past {} MiB (raise with --memory-limit-mib or memory_mib)",
                limits.memory_bytes >> 20
            ),
        };
    }
    tracing::debug!("trap: {error:?}");
    EvalError::Trap(one_line(&error))
}

/// A trap's one-line description (the wasm backtrace is left to debug
/// logs), or for a host error its innermost cause; escaped and bounded.
fn one_line(error: &wasmtime::Error) -> String {
    let reason = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error
            .chain()
            .last()
            .map_or_else(|| error.to_string(), ToString::to_string),
    };
    let first_line = reason.lines().next().unwrap_or_default();
    crate::printable(&bounded_message(first_line.to_owned())).into_owned()
}

/// Whether wasmtime refused memory growth because of the store limiter (it
/// traps with this message, `trap_on_grow_failure`), or refused an initial
/// memory larger than the limit at instantiation.
fn is_memory_limit(error: &wasmtime::Error) -> bool {
    let text = format!("{error:?}");
    text.contains("forcing trap when growing memory")
        || text.contains("memory minimum size")
        || text.contains("exceeds memory limits")
}

/// A load-time failure: a limit hit names the limit, its value and the
/// option that raises it; anything else is a trap in `stage`.
fn load_failure(
    path: &Path,
    stage: &'static str,
    error: wasmtime::Error,
    limits: &Limits,
) -> LoadError {
    let limit = match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Some(format!(
            "load time limit of {:?} (raise with load_s in the config file's [limits])",
            limits.load_time
        )),
        _ if is_memory_limit(&error) => Some(format!(
            "memory limit of {} MiB (raise with --memory-limit-mib or memory_mib)",
            limits.memory_bytes >> 20
        )),
        _ => None,
    };
    match limit {
        Some(limit) => LoadError::LoadLimit {
            path: path.to_owned(),
            stage,
            limit,
        },
        None => {
            tracing::debug!("{stage} of {}: {error:?}", path.display());
            LoadError::Trap {
                path: path.to_owned(),
                stage,
                source: one_line(&error).into(),
            }
        }
    }
}

/// Tells a non-wasm file and a core module apart from a component before
/// wasmtime's less specific parse errors.
fn check_wasm_header(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    if !bytes.starts_with(MAGIC) {
        return Err(LoadError::NotWasm {
            path: path.to_owned(),
        });
    }
    // Bytes 4..8: a core module has version 1, layer 0; a component has layer 1.
    if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
        return Err(LoadError::CoreModule {
            path: path.to_owned(),
        });
    }
    Ok(())
}
