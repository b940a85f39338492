//! The trust policy: which keys may sign modules, for which signature ids.
//!
//! ```toml
//! signatures_required = 1          # distinct trusted keys a module needs (default 1)
//!
//! [[key]]
//! name = "detections-team"
//! public_key = "keys/detections.pub"   # relative to this file
//! ids = ["TRC-*"]                      # signature ids it may sign; default: any
//!
//! [pins]                               # optional: the only digests allowed for an id
//! "TRC-1016" = ["sha256:0123…"]
//! ```

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasmsign2::PublicKey;

/// Why a module is not trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    /// No trusted key signed it (or its bytes changed since).
    #[error(
        "not signed by any trusted key (unsigned, signed by an unknown key, or modified after signing)"
    )]
    NoTrustedSignature,
    /// Fewer trusted keys than the policy requires.
    #[error("signed by {found} trusted key(s) ({names}), the policy requires {required}")]
    TooFewSignatures {
        /// Trusted keys that signed.
        found: usize,
        /// Their names.
        names: String,
        /// `signatures_required`.
        required: usize,
    },
    /// The signers may not sign this id.
    #[error("signature id {id} is not allowed for key(s) {names}")]
    IdNotAllowed {
        /// The id the module claims.
        id: String,
        /// The keys that signed it.
        names: String,
    },
    /// The id is pinned to other digests.
    #[error("signature id {id} is pinned to other digests; sha256:{sha256} is not one of them")]
    DigestNotPinned {
        /// The id.
        id: String,
        /// The module's digest.
        sha256: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default = "one")]
    signatures_required: usize,
    #[serde(default)]
    key: Vec<RawKey>,
    #[serde(default)]
    pins: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    public_key: PathBuf,
    ids: Option<Vec<String>>,
}

fn one() -> usize {
    1
}

/// One trusted key.
#[derive(Debug)]
pub struct TrustedKey {
    /// Its name in the policy.
    pub name: String,
    key: PublicKey,
    /// Id patterns it may sign (`*` matches any run of characters); None: any.
    pub ids: Option<Vec<String>>,
}

/// A loaded trust policy.
#[derive(Debug)]
pub struct TrustPolicy {
    keys: Vec<TrustedKey>,
    required: usize,
    pins: BTreeMap<String, Vec<String>>,
}

impl TrustPolicy {
    /// Reads a policy file; key paths are relative to it.
    ///
    /// # Errors
    /// The file or a key is unreadable or invalid; the message names it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read trust policy {}: {e}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses policy `text` read from `path` (key files are relative to it).
    ///
    /// # Errors
    /// The text or a key is invalid, or a key file cannot be read.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let raw: RawPolicy = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("trust policy {}: {e}", path.display()))?;
        anyhow::ensure!(
            !raw.key.is_empty(),
            "trust policy {} lists no [[key]]: nothing could ever verify",
            path.display()
        );
        anyhow::ensure!(
            raw.signatures_required >= 1 && raw.signatures_required <= raw.key.len(),
            "trust policy {}: signatures_required must be between 1 and the number of keys ({})",
            path.display(),
            raw.key.len()
        );
        let base = path.parent().unwrap_or(Path::new("."));
        let mut keys = Vec::new();
        for raw_key in raw.key {
            let file = base.join(&raw_key.public_key);
            let key = PublicKey::from_any_file(&file).map_err(|e| {
                anyhow::anyhow!(
                    "trust policy {}: key {}: cannot read {}: {e}",
                    path.display(),
                    raw_key.name,
                    file.display()
                )
            })?;
            keys.push(TrustedKey {
                name: raw_key.name,
                key,
                ids: raw_key.ids,
            });
        }
        Ok(Self {
            keys,
            required: raw.signatures_required,
            pins: raw.pins,
        })
    }

    /// How many keys it trusts.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The trusted keys whose signature over `bytes` verifies (embedded in
    /// the module, or in `detached` when given); at least
    /// `signatures_required` of them.
    ///
    /// # Errors
    /// [`TrustError::NoTrustedSignature`] or [`TrustError::TooFewSignatures`].
    pub fn verify(
        &self,
        bytes: &[u8],
        detached: Option<&[u8]>,
    ) -> Result<Vec<&TrustedKey>, TrustError> {
        // A detached signature covers the module without any embedded
        // signature section (as `sign_multi` hashes it), so a module can
        // carry both kinds.
        let unembedded = detached.map(|_| without_embedded_signatures(bytes));
        let signers: Vec<&TrustedKey> = self
            .keys
            .iter()
            .filter(|k| {
                k.key.verify(&mut Cursor::new(bytes), None).is_ok()
                    || detached
                        .zip(unembedded.as_deref())
                        .is_some_and(|(signature, module)| {
                            k.key
                                .verify(&mut Cursor::new(module), Some(signature))
                                .is_ok()
                        })
            })
            .collect();
        if signers.is_empty() {
            return Err(TrustError::NoTrustedSignature);
        }
        if signers.len() < self.required {
            return Err(TrustError::TooFewSignatures {
                found: signers.len(),
                names: names(&signers),
                required: self.required,
            });
        }
        Ok(signers)
    }

    /// Whether `signers` may ship signature `id` with digest `sha256` (hex):
    /// every signer's id patterns must allow it, and a pinned id must have
    /// one of its pinned digests.
    ///
    /// # Errors
    /// [`TrustError::IdNotAllowed`] or [`TrustError::DigestNotPinned`].
    pub fn check_id(
        &self,
        signers: &[&TrustedKey],
        id: &str,
        sha256: &str,
    ) -> Result<(), TrustError> {
        let allowed = signers.iter().all(|k| {
            k.ids
                .as_ref()
                .is_none_or(|patterns| patterns.iter().any(|p| matches_pattern(p, id)))
        });
        if !allowed {
            return Err(TrustError::IdNotAllowed {
                id: id.to_owned(),
                names: names(signers),
            });
        }
        if let Some(pins) = self.pins.get(id)
            && !pins
                .iter()
                .any(|p| p.strip_prefix("sha256:").unwrap_or(p) == sha256)
        {
            return Err(TrustError::DigestNotPinned {
                id: id.to_owned(),
                sha256: sha256.to_owned(),
            });
        }
        Ok(())
    }
}

/// `bytes` without a leading embedded signature section (as they are when
/// unparseable: verification then fails on them).
fn without_embedded_signatures(bytes: &[u8]) -> Vec<u8> {
    let Ok(mut module) = wasmsign2::Module::deserialize(&mut Cursor::new(bytes)) else {
        return bytes.to_vec();
    };
    if !module
        .sections
        .first()
        .is_some_and(|s| s.is_signature_header())
    {
        return bytes.to_vec();
    }
    module.sections.remove(0);
    let mut out = Vec::with_capacity(bytes.len());
    match module.serialize(&mut out) {
        Ok(()) => out,
        Err(_) => bytes.to_vec(),
    }
}

fn names(keys: &[&TrustedKey]) -> String {
    keys.iter()
        .map(|k| k.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `*` matches any run of characters (possibly empty); everything else
/// matches itself.
fn matches_pattern(pattern: &str, id: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = id.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's example policy has the shape `load` accepts.
    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../../README.md");
        let example = readme
            .split("```toml trust-policy\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("README has a trust-policy example");
        let raw: RawPolicy = toml::from_str(example).unwrap();
        assert_eq!(raw.signatures_required, 1);
        assert_eq!(raw.key.len(), 1);
        assert_eq!(raw.key[0].ids.as_deref(), Some(&["TRC-*".to_owned()][..]));
        assert!(raw.pins.contains_key("TRC-1016"));
    }

    #[test]
    fn id_patterns() {
        assert!(matches_pattern("TRC-*", "TRC-1016"));
        assert!(matches_pattern("TRC-*", "TRC-"));
        assert!(!matches_pattern("TRC-*", "XTRC-1"));
        assert!(matches_pattern("TRC-1016", "TRC-1016"));
        assert!(!matches_pattern("TRC-1016", "TRC-10160"));
        assert!(matches_pattern("*-PY", "TRC-1016-PY"));
        assert!(matches_pattern("A*B*C", "AxxBxxC"));
        assert!(!matches_pattern("A*B*C", "AxxCxxB"));
        assert!(matches_pattern("*", "anything"));
    }
}
