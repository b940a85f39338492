//! A version `sigbox pull` refused, left beside the module it would have
//! replaced as `NAME.wasm.refused`, so the daemon watching the directory
//! reports it where findings and metrics go (`sigbox_module_rejected` or
//! `sigbox_signature_update_rejected`, `sigbox_reloads_total{result="rejected"}`),
//! as it reports a refused module dropped there: whichever path brought a
//! module, its refusal reaches monitoring. The puller removes the record
//! once it installs (or finds installed) a version that verifies.
//!
//! Whoever can write the directory can write such a record, as they can
//! drop a module the daemon refuses: it only ever adds a report, and its
//! text is bounded and escaped like any other.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::signature::error::{LoadError, bounded_message};
use crate::engine::signature::module_file;

/// The suffix of a refusal record, after the module's file name.
const SUFFIX: &str = ".refused";

/// The largest record read (a reference and a one-line reason).
const MAX_RECORD_BYTES: u64 = 16 * 1024;

/// What the puller refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRefusal {
    /// `REGISTRY/REPOSITORY@sha256:…`: the manifest refused.
    pub reference: String,
    /// Why, in one line.
    pub reason: String,
}

/// Where the refusal record of `module` (`DIR/NAME.wasm`) is kept.
pub fn path_for(module: &Path) -> PathBuf {
    let mut name = module.as_os_str().to_owned();
    name.push(SUFFIX);
    PathBuf::from(name)
}

/// The module a refusal record is about, if `path` names one
/// (`NAME.wasm.refused`, not hidden).
pub fn module_of(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let module = name.strip_suffix(SUFFIX)?;
    let module = path.with_file_name(module);
    super::catalog::is_signature_file(&module).then_some(module)
}

impl PullRefusal {
    /// Writes the record beside `module` (a temporary file, then a rename,
    /// so the daemon never reads half of it).
    ///
    /// # Errors
    /// It cannot be written.
    pub fn write(&self, module: &Path) -> std::io::Result<()> {
        let path = path_for(module);
        let mut temp = path.clone().into_os_string();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, &path)
    }

    /// Removes the record beside `module`, if there is one.
    ///
    /// # Errors
    /// It exists and cannot be removed.
    pub fn clear(module: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path_for(module)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Reads the record at `path` (bounded, with the care of a module file).
    /// Returns its bytes too, to tell a new record from one seen before.
    ///
    /// # Errors
    /// It cannot be read or is not a refusal record.
    pub fn read(path: &Path) -> Result<(Self, Vec<u8>), LoadError> {
        let bytes = module_file::read(path, MAX_RECORD_BYTES)?;
        let refusal: Self =
            serde_json::from_slice(&bytes).map_err(|error| LoadError::Metadata {
                path: path.to_owned(),
                reason: format!("not a sigbox pull refusal record: {error}"),
            })?;
        Ok((refusal, bytes))
    }

    /// The error the daemon reports for `module`.
    pub fn into_error(self, module: &Path) -> LoadError {
        LoadError::PullRefused {
            path: module.to_owned(),
            reference: bounded_message(self.reference),
            reason: bounded_message(self.reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_sit_beside_their_module_and_read_back() {
        let dir = std::env::temp_dir().join(format!("sigbox-refusal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let module = dir.join("trc-1016.wasm");
        let record = path_for(&module);
        assert_eq!(record, dir.join("trc-1016.wasm.refused"));
        assert_eq!(module_of(&record), Some(module.clone()));
        assert_eq!(module_of(&dir.join(".trc-1016.wasm.refused")), None);
        assert_eq!(module_of(&dir.join("notes.refused")), None);
        let refusal = PullRefusal {
            reference: "127.0.0.1:5000/d/trc-1016@sha256:00".into(),
            reason: "refused by the trust policy: not signed".into(),
        };
        refusal.write(&module).unwrap();
        assert_eq!(PullRefusal::read(&record).unwrap().0, refusal);
        let error = refusal.into_error(&module).to_string();
        assert!(
            error.contains("sigbox pull refused") && error.contains("not signed"),
            "{error}"
        );
        PullRefusal::clear(&module).unwrap();
        assert!(!record.exists());
        PullRefusal::clear(&module).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
