//! One loaded signature: its compiled component, its instance and its metadata.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Store;

use super::bindings::{Signature, SignaturePre};
use super::error::{EvalError, LoadError, cause};
use super::host_state::HostState;
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
/// every event so that a signature can keep state between events.
pub struct LoadedSignature {
    info: SignatureInfo,
    store: Store<HostState>,
    instance: Signature,
    /// The CPU limit per call, in epoch ticks.
    cpu_ticks: u64,
    /// The most findings one event may produce.
    findings_limit: usize,
}

impl LoadedSignature {
    /// Reads, validates, compiles and instantiates the file at `path`, then
    /// reads its metadata and calls `init` with `config`.
    ///
    /// # Errors
    /// A [`LoadError`] naming the file and what is wrong with it.
    pub fn load(runtime: &Runtime, path: &Path, config: &[Field]) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(runtime, path, &bytes, config)
    }

    /// Like [`LoadedSignature::load`], for bytes already read from `path`.
    ///
    /// # Errors
    /// A [`LoadError`] naming `path` and what is wrong with the bytes.
    pub fn from_bytes(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        config: &[Field],
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

        let tag = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        let mut store = Store::new(runtime.engine(), HostState::new(tag, runtime.limits()));
        store.limiter(|state| &mut state.store_limits);
        let ticks = runtime.limits().cpu_ticks();
        store.set_epoch_deadline(ticks);

        let trap = |stage| {
            move |e| LoadError::Trap {
                path: path.to_owned(),
                stage,
                source: cause(e),
            }
        };
        let instance = pre.instantiate(&mut store).map_err(trap("instantiation"))?;
        let detector = instance.sigbox_signature_detector();
        store.set_epoch_deadline(ticks);
        let metadata = detector
            .call_get_metadata(&mut store)
            .map_err(trap("metadata"))?;
        store.set_epoch_deadline(ticks);
        let selected_events = detector
            .call_selected_events(&mut store)
            .map_err(trap("selected-events"))?;
        validate_metadata(path, &metadata, &selected_events)?;
        store.data_mut().log_tag = metadata.id.clone();

        store.set_epoch_deadline(ticks);
        detector
            .call_init(&mut store, config)
            .map_err(trap("init"))?
            .map_err(|message| LoadError::Init {
                path: path_buf(),
                id: metadata.id.clone(),
                message,
            })?;

        Ok(Self {
            info: SignatureInfo {
                path: path_buf(),
                sha256,
                metadata,
                selected_events,
            },
            store,
            instance,
            cpu_ticks: ticks,
            findings_limit: runtime.limits().findings_per_event,
        })
    }

    /// What the signature declared about itself.
    pub fn info(&self) -> &SignatureInfo {
        &self.info
    }

    /// The signature's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.info.metadata
    }

    /// Evaluates one event.
    ///
    /// # Errors
    /// The signature's own error, a trap (including a limit hit) or too many findings.
    pub fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, EvalError> {
        self.store.set_epoch_deadline(self.cpu_ticks);
        let findings = self
            .instance
            .sigbox_signature_detector()
            .call_on_event(&mut self.store, event)
            .map_err(|e| EvalError::Trap(cause(e)))?
            .map_err(EvalError::Returned)?;
        if findings.len() > self.findings_limit {
            return Err(EvalError::TooManyFindings {
                count: findings.len(),
                limit: self.findings_limit,
            });
        }
        Ok(findings)
    }

    /// Tells the signature something happened to the stream.
    ///
    /// # Errors
    /// The signature's own error or a trap.
    pub fn on_signal(&mut self, signal: Signal) -> Result<(), EvalError> {
        self.store.set_epoch_deadline(self.cpu_ticks);
        self.instance
            .sigbox_signature_detector()
            .call_on_signal(&mut self.store, signal)
            .map_err(|e| EvalError::Trap(cause(e)))?
            .map_err(EvalError::Returned)
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

fn validate_metadata(
    path: &Path,
    metadata: &Metadata,
    selected: &[EventSelector],
) -> Result<(), LoadError> {
    let invalid = |reason: &str| LoadError::Metadata {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if metadata.id.trim().is_empty() {
        return Err(invalid("empty id"));
    }
    if metadata.event_name.trim().is_empty() {
        return Err(invalid("empty event-name"));
    }
    if selected.is_empty() {
        return Err(invalid("selects no events"));
    }
    if selected.iter().any(|s| s.name.is_empty()) {
        return Err(invalid("selects an event with an empty name"));
    }
    Ok(())
}
