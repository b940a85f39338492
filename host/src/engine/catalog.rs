//! The signatures directory and which of its files run: each scan decides
//! what to load, replace, unload or reject.
//!
//! Rules: every `*.wasm` file directly in the directory is a candidate
//! (hidden files and other names are ignored). A file runs once it loads
//! cleanly; when it changes, the new bytes are loaded first and replace the
//! running version only if they load — otherwise the old version keeps
//! running. Two files may not claim the same signature id: the one already
//! running (or, on the first scan, the first in name order) keeps it and the
//! other is rejected until one of them changes or disappears. A rejected file
//! is not retried until its bytes change (or on SIGHUP).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use std::sync::Arc;

use super::error::LoadError;
use super::limits::Policy;
use super::runtime::Runtime;
use super::set::Change;
use super::signature::LoadedSignature;

/// A file whose signature runs.
struct Running {
    sha256: String,
    id: String,
}

/// A file that failed to load.
struct Rejected {
    sha256: Option<String>,
    /// Rejected only because another file holds its id: retried when that
    /// file goes away.
    duplicate: bool,
}

/// The result of one scan: changes for the dispatch thread, and the files
/// rejected (each error names the file and the reason).
#[derive(Default)]
pub struct Scan {
    /// Loads, replacements and unloads, in the order to apply them.
    pub changes: Vec<Change>,
    /// Files that could not be loaded this time.
    pub rejected: Vec<LoadError>,
}

/// What the catalog knows of the signatures directory.
pub struct Catalog {
    dir: PathBuf,
    policy: Arc<Policy>,
    running: HashMap<PathBuf, Running>,
    rejected: HashMap<PathBuf, Rejected>,
}

impl Catalog {
    /// A catalog of `dir`; signatures load under `policy`'s limits and
    /// configuration.
    pub fn new(dir: &Path, policy: Arc<Policy>) -> Self {
        Self {
            dir: dir.to_owned(),
            policy,
            running: HashMap::new(),
            rejected: HashMap::new(),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Forgets past rejections so the next scan retries every file (SIGHUP).
    pub fn forget_rejections(&mut self) {
        self.rejected.clear();
    }

    /// Compares the directory with what runs and prepares the changes.
    /// Loading (compiling, instantiating, `init`) happens here, on the
    /// caller's thread, never on the dispatch path.
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn scan(&mut self, runtime: &Runtime) -> std::io::Result<Scan> {
        let files = wasm_files(&self.dir)?;
        let mut scan = Scan::default();

        let gone: Vec<PathBuf> = self
            .running
            .keys()
            .filter(|p| !files.contains(p))
            .cloned()
            .collect();
        for path in gone {
            self.running.remove(&path);
            // Its id is free again: files rejected as duplicates may now load.
            self.rejected.retain(|_, r| !r.duplicate);
            scan.changes.push(Change::Remove(path));
        }
        self.rejected.retain(|p, _| files.contains(p));

        for path in files {
            if let Some(change) = self.consider(runtime, &path, &mut scan.rejected) {
                scan.changes.push(change);
            }
        }
        Ok(scan)
    }

    /// Loads `path` if its bytes are new; `None` when nothing changes.
    fn consider(
        &mut self,
        runtime: &Runtime,
        path: &Path,
        rejected: &mut Vec<LoadError>,
    ) -> Option<Change> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            // Deleted between listing and reading: the next scan sees it gone.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(source) => {
                self.reject(path, None, false);
                rejected.push(LoadError::Read {
                    path: path.to_owned(),
                    source,
                });
                return None;
            }
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let unchanged = self.running.get(path).is_some_and(|r| r.sha256 == sha256)
            || self
                .rejected
                .get(path)
                .is_some_and(|r| r.sha256.as_deref() == Some(sha256.as_str()));
        if unchanged {
            return None;
        }
        let signature = match LoadedSignature::with_policy(runtime, path, &bytes, &self.policy) {
            Ok(signature) => signature,
            Err(error) => {
                self.reject(path, Some(sha256), false);
                rejected.push(error);
                return None;
            }
        };
        let id = signature.metadata().id.clone();
        let holder = self
            .running
            .iter()
            .find(|(other, r)| other.as_path() != path && r.id == id);
        if let Some((existing, _)) = holder {
            let error = LoadError::DuplicateId {
                path: path.to_owned(),
                id,
                existing: existing.clone(),
            };
            self.reject(path, Some(sha256), true);
            rejected.push(error);
            return None;
        }
        self.rejected.remove(path);
        self.running.insert(path.to_owned(), Running { sha256, id });
        Some(Change::Upsert(Box::new(signature)))
    }

    fn reject(&mut self, path: &Path, sha256: Option<String>, duplicate: bool) {
        self.rejected
            .insert(path.to_owned(), Rejected { sha256, duplicate });
    }
}

/// The `*.wasm` files directly in `dir`, sorted by name.
///
/// # Errors
/// The directory cannot be listed.
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

/// Whether `path` names a signature module (`*.wasm`, not hidden). Editor
/// and publishing temp files (`x.wasm.tmp`, `.x.wasm.swp`) are not.
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
    fn signature_files() {
        assert!(is_signature_file(Path::new("/d/trc-1016.wasm")));
        assert!(!is_signature_file(Path::new("/d/trc-1016.wasm.tmp")));
        assert!(!is_signature_file(Path::new("/d/.trc-1016.wasm")));
        assert!(!is_signature_file(Path::new("/d/.trc-1016.wasm.swp")));
        assert!(!is_signature_file(Path::new("/d/notes.txt")));
        assert!(!is_signature_file(Path::new("/d/wasm")));
    }
}
