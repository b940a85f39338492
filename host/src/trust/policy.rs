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
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasmsign2::{PublicKey, SecretKey};

use super::fingerprint::Fingerprint;
use super::shape::{self, Shape};
use super::signatures;

/// The policy format, for `--help` (the README's example, explained).
pub const POLICY_HELP: &str = r#"Trust policy (TOML; read at start and on SIGHUP, never from the signatures directory):

  signatures_required = 1          # distinct listed keys a module needs (default 1)

  [[key]]                          # one entry per trusted key
  name = "detections-team"         # how logs and refusals name it
  public_key = "keys/team.pub"     # from `sigbox keygen keys/team`; relative to the policy file
  ids = ["TRC-*"]                  # signature ids it may sign (`*`: any run); default any

  [pins]                           # optional: the only digests allowed for an id
  "TRC-1016" = ["sha256:0123abcd"]

Every key that signed a module must be allowed the id it claims. A key's
fingerprint (sha256:…, the start of `sha256sum KEY.pub`) is printed by
`sigbox keygen`, `sigbox sign`, `sigbox verify`, refusals, and
`sigbox fingerprint KEY.pub`."#;

/// Why a module is not trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    /// The file is not WebAssembly.
    #[error("not a WebAssembly module (starts with {head})")]
    NotWasm {
        /// Its first bytes, described.
        head: String,
    },
    /// The file ends before its sections do.
    #[error(
        "truncated: the file is {size} bytes, its sections need at least {needed} (still being \
         copied? copy it to a temporary name in the directory, then rename it into place)"
    )]
    Truncated {
        /// The file's size.
        size: u64,
        /// What its sections need.
        needed: u64,
    },
    /// No signature at all.
    #[error(
        "unsigned: no signature, embedded or in FILE.wasm.sig (sign it with `sigbox sign --key \
         KEY.key` using a key the policy lists)"
    )]
    Unsigned,
    /// Signed only by keys the policy does not list.
    #[error(
        "signed only by a key not in the policy: {keys} (list its .pub in a [[key]] entry of \
         the policy, or sign with a listed key)"
    )]
    UnknownKey {
        /// The signers' fingerprints, as far as known.
        keys: String,
    },
    /// A listed key signed other contents (or its signature was altered).
    #[error(
        "modified after signing: the signature of {keys} does not match the module's bytes \
         (rebuild and sign again, or restore the signed file)"
    )]
    Modified {
        /// The listed keys whose signatures no longer match.
        keys: String,
    },
    /// Fewer trusted keys than the policy requires.
    #[error(
        "signed by {found} listed key(s) ({names}), the policy requires {required} \
         (signatures_required)"
    )]
    TooFewSignatures {
        /// Trusted keys that signed.
        found: usize,
        /// Their names.
        names: String,
        /// `signatures_required`.
        required: usize,
    },
    /// A signer may not sign this id.
    #[error(
        "signature id {id} is not allowed for key {key}: {rule} (add the id to its ids, or sign \
         without that key)"
    )]
    IdNotAllowed {
        /// The id the module claims.
        id: String,
        /// The signer not allowed it: name and fingerprint.
        key: String,
        /// Its policy entry and the ids that allows, and the other signers.
        rule: String,
    },
    /// The id is pinned to other digests.
    #[error(
        "signature id {id} is pinned to other digests in {policy} ([pins]); sha256:{sha256} is \
         not one of them"
    )]
    DigestNotPinned {
        /// The id.
        id: String,
        /// The module's digest.
        sha256: String,
        /// The policy file.
        policy: String,
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
pub(crate) struct TrustedKey {
    /// Its name in the policy.
    pub name: String,
    key: PublicKey,
    fingerprint: Fingerprint,
    /// Id patterns it may sign (`*` matches any run of characters); None: any.
    pub ids: Option<Vec<String>>,
}

impl TrustedKey {
    /// `NAME (sha256:…)`, as messages name it.
    pub(crate) fn label(&self) -> String {
        format!("{} ({})", self.name, self.fingerprint)
    }
}

/// A loaded trust policy.
#[derive(Debug)]
pub struct TrustPolicy {
    source: PathBuf,
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
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read trust policy {} (--trust): {e}", path.display())
        })?;
        Self::parse(&text, path)
    }

    /// Parses policy `text` read from `path` (key files are relative to it).
    ///
    /// # Errors
    /// The text or a key is invalid, or a key file cannot be read.
    pub(crate) fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        // toml's message spans lines (the line, a caret); it is printed as is.
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "trust policy {} (format: `sigbox verify --help`): {}",
                path.display(),
                e.to_string().trim_end()
            )
        })?;
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
            let key = read_public_key(&file).map_err(|e| {
                anyhow::anyhow!(
                    "trust policy {}: [[key]] {:?}: public_key {}: {e}",
                    path.display(),
                    raw_key.name,
                    file.display()
                )
            })?;
            keys.push(TrustedKey {
                name: raw_key.name,
                fingerprint: Fingerprint::of(&key),
                key,
                ids: raw_key.ids,
            });
        }
        Ok(Self {
            source: path.to_owned(),
            keys,
            required: raw.signatures_required,
            pins: raw.pins,
        })
    }

    /// How many keys it trusts.
    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The trusted keys whose signature over `bytes` verifies (embedded in
    /// the module, or in `detached` when given); at least
    /// `signatures_required` of them.
    ///
    /// # Errors
    /// Why not, most telling first: not WebAssembly, truncated, modified
    /// after a listed key signed it, unsigned, signed by unknown keys only,
    /// too few listed signers.
    pub(crate) fn verify(
        &self,
        bytes: &[u8],
        detached: Option<&[u8]>,
    ) -> Result<Vec<&TrustedKey>, TrustError> {
        match shape::of(bytes) {
            Shape::Complete => {}
            Shape::NotWasm { head } => {
                return Err(TrustError::NotWasm {
                    head: shape::describe_head(&head),
                });
            }
            Shape::Truncated { size, needed } => {
                return Err(TrustError::Truncated { size, needed });
            }
        }
        let keys: Vec<(PublicKey, Fingerprint)> = self
            .keys
            .iter()
            .map(|k| (k.key.clone(), k.fingerprint.clone()))
            .collect();
        let seen = signatures::examine(&keys, bytes, detached);
        let signers: Vec<&TrustedKey> = seen.valid.iter().map(|&i| &self.keys[i]).collect();
        if signers.is_empty() {
            let stale: Vec<&TrustedKey> = seen.stale.iter().map(|&i| &self.keys[i]).collect();
            return Err(if !stale.is_empty() {
                TrustError::Modified {
                    keys: labels(&stale),
                }
            } else if seen.damaged {
                TrustError::Modified {
                    keys: "an unreadable signature section".to_owned(),
                }
            } else if !seen.signed {
                TrustError::Unsigned
            } else {
                TrustError::UnknownKey {
                    keys: seen.unknown.join(", "),
                }
            });
        }
        if signers.len() < self.required {
            return Err(TrustError::TooFewSignatures {
                found: signers.len(),
                names: labels(&signers),
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
    /// [`TrustError::IdNotAllowed`] (naming the first signer not allowed)
    /// or [`TrustError::DigestNotPinned`].
    pub(crate) fn check_id(
        &self,
        signers: &[&TrustedKey],
        id: &str,
        sha256: &str,
    ) -> Result<(), TrustError> {
        let allowed = |k: &TrustedKey| {
            k.ids
                .as_ref()
                .is_none_or(|patterns| patterns.iter().any(|p| matches_pattern(p, id)))
        };
        if let Some(refused) = signers.iter().find(|k| !allowed(k)) {
            let others: Vec<&TrustedKey> = signers.iter().copied().filter(|k| allowed(k)).collect();
            let mut rule = format!(
                "its [[key]] entry in {} allows only ids {}",
                self.source.display(),
                refused.ids.as_deref().unwrap_or_default().join(", ")
            );
            if !others.is_empty() {
                rule.push_str(&format!("; also signed by {}, which may", labels(&others)));
            }
            return Err(TrustError::IdNotAllowed {
                id: id.to_owned(),
                key: refused.label(),
                rule,
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
                policy: self.source.display().to_string(),
            });
        }
        Ok(())
    }
}

impl TrustPolicy {
    /// Whether the policy ties `id` to a module `signers` signed: the id is
    /// pinned, or a signer's `ids` name it with a pattern other than a bare
    /// `*` (a key allowed every id is tied to none).
    pub(crate) fn ties(&self, signers: &[&TrustedKey], id: &str) -> bool {
        self.pins.contains_key(id)
            || signers.iter().any(|k| {
                k.ids.as_ref().is_some_and(|patterns| {
                    patterns
                        .iter()
                        .any(|p| !p.chars().all(|c| c == '*') && matches_pattern(p, id))
                })
            })
    }
}

/// The public key in `file`, or why it is not one: unreadable (the OS
/// error), a secret key (the `.pub` belongs in a policy), or another format.
fn read_public_key(file: &Path) -> anyhow::Result<PublicKey> {
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read it: {e}"))?;
    PublicKey::from_any(&bytes).map_err(|e| {
        if SecretKey::from_any(&bytes).is_ok() {
            anyhow::anyhow!(
                "this is a secret key: list the public key (the .pub `sigbox keygen` wrote \
                 beside it) and keep the secret key off the nodes"
            )
        } else {
            anyhow::anyhow!(
                "not an Ed25519 public key (a .pub from `sigbox keygen`, PEM or DER): {e}"
            )
        }
    })
}

fn labels(keys: &[&TrustedKey]) -> String {
    keys.iter()
        .map(|k| k.label())
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
