//! Whether `sigbox run`/`replay` may load a module: the trust policy the
//! operator named (loaded at start and on SIGHUP, never from the signatures
//! directory), or an explicit opt-out.
//!
//! A module is checked in two steps on the bytes read once: its signatures
//! before anything compiles it ([`Admission::verify`]), then, once its
//! metadata is known and before its `init` runs, the id it claims and its
//! digest ([`Admitted::check_id`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::policy::{TrustError, TrustPolicy, TrustedKey};

/// What the operator chose on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustMode {
    /// Verify every module against this policy file (`--trust`).
    Policy(PathBuf),
    /// Load modules without verifying them (`--allow-unsigned`).
    AllowUnsigned,
}

/// The trust policy in force, and the file to reload it from.
#[derive(Debug)]
pub(crate) struct Gate {
    source: Option<PathBuf>,
    current: Admission,
}

/// A snapshot of the rules one scan loads modules under.
#[derive(Debug, Clone)]
pub(crate) enum Admission {
    /// Modules must verify against this policy.
    Verify(Arc<TrustPolicy>),
    /// Anything loads (and each load is warned about).
    AllowUnsigned,
}

/// A module whose signatures verified: who signed it, under which policy.
pub(crate) struct Admitted<'a> {
    policy: Option<&'a TrustPolicy>,
    signers: Vec<&'a TrustedKey>,
}

impl Gate {
    /// Loads the policy `mode` names.
    ///
    /// # Errors
    /// The policy file or one of its keys is unreadable or invalid.
    pub(crate) fn open(mode: &TrustMode) -> anyhow::Result<Self> {
        Ok(match mode {
            TrustMode::Policy(path) => Self {
                source: Some(path.clone()),
                current: Admission::Verify(Arc::new(TrustPolicy::load(path)?)),
            },
            TrustMode::AllowUnsigned => Self {
                source: None,
                current: Admission::AllowUnsigned,
            },
        })
    }

    /// Reads the policy file again (SIGHUP). A policy that no longer loads
    /// is not applied: the previous one stays in force, and the error says
    /// why.
    pub(crate) fn reload(&mut self) {
        let Some(path) = &self.source else { return };
        match TrustPolicy::load(path) {
            Ok(policy) => {
                tracing::info!(
                    "SIGHUP: reloaded trust policy {} ({} keys); it applies to every module loaded from now on",
                    path.display(),
                    policy.key_count()
                );
                self.current = Admission::Verify(Arc::new(policy));
            }
            Err(error) => {
                tracing::error!("SIGHUP: {error:#}; the previous trust policy stays in force")
            }
        }
    }

    /// The rules in force now.
    pub(crate) fn admission(&self) -> Admission {
        self.current.clone()
    }

    /// The policy file, if modules are verified.
    pub(crate) fn policy_file(&self) -> Option<&Path> {
        self.source.as_deref()
    }
}

impl Admission {
    /// Checks the signatures over `bytes` (embedded, or `detached`).
    ///
    /// # Errors
    /// No trusted key signed these bytes, or too few did.
    pub(crate) fn verify<'a>(
        &'a self,
        bytes: &[u8],
        detached: Option<&[u8]>,
    ) -> Result<Admitted<'a>, TrustError> {
        match self {
            Self::Verify(policy) => Ok(Admitted {
                policy: Some(policy),
                signers: policy.verify(bytes, detached)?,
            }),
            Self::AllowUnsigned => Ok(Admitted::unverified()),
        }
    }

    /// Whether modules are loaded without verification.
    pub(crate) fn allows_unsigned(&self) -> bool {
        matches!(self, Self::AllowUnsigned)
    }
}

impl Admitted<'static> {
    /// Admission without verification (tools that load a module only to
    /// inspect, test or measure it).
    pub(crate) fn unverified() -> Self {
        Self {
            policy: None,
            signers: Vec::new(),
        }
    }
}

impl Admitted<'_> {
    /// Whether the signers may ship signature `id` at digest `sha256` (hex).
    ///
    /// # Errors
    /// The id is not allowed for a signer, or is pinned to other digests.
    pub(crate) fn check_id(&self, id: &str, sha256: &str) -> Result<(), TrustError> {
        match self.policy {
            Some(policy) => policy.check_id(&self.signers, id, sha256),
            None => Ok(()),
        }
    }

    /// Whether the policy ties signature `id` to this module: one of its
    /// signers' `ids` names it (a pattern other than a bare `*`), or
    /// `[pins]` lists digests for it (which [`Self::check_id`] found this
    /// module's among). Never when loaded unverified.
    pub(crate) fn ties(&self, id: &str) -> bool {
        self.policy
            .is_some_and(|policy| policy.ties(&self.signers, id))
    }

    /// The keys that signed, as `NAME (sha256:…)` (empty when not verified).
    pub(crate) fn signer_names(&self) -> Vec<String> {
        self.signers.iter().map(|k| k.label()).collect()
    }
}
