//! The set of loaded signatures and the dispatch of events to them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::{EvalError, LoadError};
use super::runtime::Runtime;
use super::signature::{LoadedSignature, SignatureInfo};
use crate::wit::{Event, Field, Finding, Origin, OriginFilter, Signal};

/// Tracee numbers signature events from 6000; findings use these ids.
const FIRST_SIGNATURE_EVENT_ID: u32 = 6000;

/// Per-signature counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SignatureStats {
    /// Events passed to the signature.
    pub events: u64,
    /// Findings it produced.
    pub findings: u64,
    /// Events it failed to evaluate (returned error or trap).
    pub errors: u64,
}

/// A loaded signature together with its counters and finding event id.
struct Slot {
    signature: LoadedSignature,
    event_id: u32,
    stats: SignatureStats,
}

/// What a [`SignatureSet`] reports about one signature.
#[derive(Debug, Clone)]
pub struct SignatureStatus {
    /// Its file, digest, metadata and selected events.
    pub info: SignatureInfo,
    /// The event id its findings carry.
    pub event_id: u32,
    /// Its counters.
    pub stats: SignatureStats,
}

/// A finding together with the signature that produced it.
pub struct Detection<'a> {
    /// The signature's metadata, file and digest.
    pub signature: &'a SignatureInfo,
    /// The event id of the signature's findings.
    pub event_id: u32,
    /// What the signature returned.
    pub finding: Finding,
}

/// An event a signature failed to evaluate.
pub struct Failure<'a> {
    /// The signature.
    pub signature: &'a SignatureInfo,
    /// Why.
    pub error: EvalError,
}

/// Every loaded signature, indexed by the event names they select.
#[derive(Default)]
pub struct SignatureSet {
    slots: Vec<Slot>,
    /// Event name → indexes into `slots` of signatures selecting it.
    by_event: HashMap<String, Vec<usize>>,
}

impl SignatureSet {
    /// Loads every `*.wasm` file in `dir`, in file-name order. Files that fail
    /// are returned as errors; every other file still loads.
    ///
    /// # Errors
    /// Fails only if the directory itself cannot be listed.
    pub fn load_dir(
        runtime: &Runtime,
        dir: &Path,
        config: &[Field],
    ) -> std::io::Result<(Self, Vec<LoadError>)> {
        let mut set = Self::default();
        let mut errors = Vec::new();
        for path in wasm_files(dir)? {
            if let Err(error) = set.load(runtime, &path, config) {
                errors.push(error);
            }
        }
        Ok((set, errors))
    }

    /// Loads one file and adds it to the set.
    ///
    /// # Errors
    /// The file is not a valid signature, or its id is already loaded.
    pub fn load(
        &mut self,
        runtime: &Runtime,
        path: &Path,
        config: &[Field],
    ) -> Result<&SignatureInfo, LoadError> {
        let signature = LoadedSignature::load(runtime, path, config)?;
        self.insert(signature)
    }

    /// Adds an already loaded signature.
    ///
    /// # Errors
    /// [`LoadError::DuplicateId`] if a signature with the same id is loaded:
    /// the one already running stays, the new one is rejected.
    pub fn insert(&mut self, signature: LoadedSignature) -> Result<&SignatureInfo, LoadError> {
        let id = &signature.metadata().id;
        if let Some(existing) = self.slots.iter().find(|s| &s.signature.metadata().id == id) {
            return Err(LoadError::DuplicateId {
                path: signature.info().path.clone(),
                id: id.clone(),
                existing: existing.signature.info().path.clone(),
            });
        }
        let index = self.slots.len();
        for selector in &signature.info().selected_events {
            let entry = self.by_event.entry(selector.name.clone()).or_default();
            if !entry.contains(&index) {
                entry.push(index);
            }
        }
        let event_id = FIRST_SIGNATURE_EVENT_ID + u32::try_from(index).unwrap_or(u32::MAX - 6000);
        self.slots.push(Slot {
            signature,
            event_id,
            stats: SignatureStats::default(),
        });
        Ok(self.slots[index].signature.info())
    }

    /// How many signatures are loaded.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no signature is loaded.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The loaded signatures and their counters, in load order.
    pub fn status(&self) -> Vec<SignatureStatus> {
        self.slots
            .iter()
            .map(|slot| SignatureStatus {
                info: slot.signature.info().clone(),
                event_id: slot.event_id,
                stats: slot.stats,
            })
            .collect()
    }

    /// Passes `event` to every signature that selected its name and origin,
    /// calling `on_detection` for each finding and `on_failure` for each
    /// signature that failed on it. A failing signature never stops the others.
    pub fn dispatch(
        &mut self,
        event: &Event,
        mut on_detection: impl FnMut(Detection<'_>),
        mut on_failure: impl FnMut(Failure<'_>),
    ) {
        let Some(indexes) = self.by_event.get(&event.name) else {
            return;
        };
        for &index in indexes {
            let slot = &mut self.slots[index];
            let accepts = slot
                .signature
                .info()
                .selected_events
                .iter()
                .any(|s| s.name == event.name && origin_matches(s.origin, event.origin));
            if !accepts {
                continue;
            }
            slot.stats.events += 1;
            match slot.signature.on_event(event) {
                Ok(findings) => {
                    slot.stats.findings += findings.len() as u64;
                    for finding in findings {
                        on_detection(Detection {
                            signature: slot.signature.info(),
                            event_id: slot.event_id,
                            finding,
                        });
                    }
                }
                Err(error) => {
                    slot.stats.errors += 1;
                    on_failure(Failure {
                        signature: slot.signature.info(),
                        error,
                    });
                }
            }
        }
    }

    /// Sends `signal` to every signature, reporting those that fail.
    pub fn signal(&mut self, signal: Signal, mut on_failure: impl FnMut(Failure<'_>)) {
        for slot in &mut self.slots {
            if let Err(error) = slot.signature.on_signal(signal) {
                on_failure(Failure {
                    signature: slot.signature.info(),
                    error,
                });
            }
        }
    }
}

/// Whether a selector's origin filter accepts an event's origin.
fn origin_matches(filter: OriginFilter, origin: Origin) -> bool {
    match filter {
        OriginFilter::Any => true,
        OriginFilter::Host => origin == Origin::Host,
        OriginFilter::Container => matches!(origin, Origin::Container | Origin::ContainerInit),
        OriginFilter::ContainerInit => origin == Origin::ContainerInit,
    }
}

/// The `*.wasm` files directly in `dir`, sorted by name.
pub fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_signature_file(&path) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `path` names a signature module (`*.wasm`, not hidden).
pub fn is_signature_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    !hidden && path.extension().is_some_and(|ext| ext == "wasm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_filters() {
        assert!(origin_matches(OriginFilter::Any, Origin::Host));
        assert!(origin_matches(OriginFilter::Any, Origin::ContainerInit));
        assert!(origin_matches(OriginFilter::Host, Origin::Host));
        assert!(!origin_matches(OriginFilter::Host, Origin::Container));
        assert!(origin_matches(OriginFilter::Container, Origin::Container));
        assert!(origin_matches(
            OriginFilter::Container,
            Origin::ContainerInit
        ));
        assert!(!origin_matches(OriginFilter::Container, Origin::Host));
        assert!(origin_matches(
            OriginFilter::ContainerInit,
            Origin::ContainerInit
        ));
        assert!(!origin_matches(
            OriginFilter::ContainerInit,
            Origin::Container
        ));
    }

    #[test]
    fn signature_files() {
        assert!(is_signature_file(Path::new("/d/trc-1016.wasm")));
        assert!(!is_signature_file(Path::new("/d/trc-1016.wasm.tmp")));
        assert!(!is_signature_file(Path::new("/d/.trc-1016.wasm")));
        assert!(!is_signature_file(Path::new("/d/notes.txt")));
        assert!(!is_signature_file(Path::new("/d/wasm")));
    }
}
