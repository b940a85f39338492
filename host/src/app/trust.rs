//! `sigbox keygen`, `sigbox sign`, `sigbox verify`: signing modules and
//! checking them against a trust policy (see [`crate::trust`]).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::engine::{Limits, LoadedSignature, Runtime};
use crate::trust::{TrustPolicy, keys};

/// `sigbox keygen STEM`: writes STEM.key and STEM.pub.
///
/// # Errors
/// As [`keys::generate`].
pub fn keygen(stem: &Path) -> anyhow::Result<ExitCode> {
    let (secret, public) = keys::generate(stem)?;
    println!(
        "secret key {} (keep it private), public key {} (list it in a trust policy)",
        secret.display(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `sigbox sign --key KEY FILE.wasm [--out OUT]`.
///
/// # Errors
/// As [`keys::sign`].
pub fn sign(key: &Path, module: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let out = out.unwrap_or(module);
    keys::sign(key, module, out)?;
    println!("signed {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `sigbox verify --trust POLICY FILE.wasm`: the signature is checked on
/// the bytes read once, before anything compiles them; then the module is
/// loaded from those same bytes to check the id it claims against the
/// signers' allowed ids and the pins. Exit status 1 when not trusted.
///
/// # Errors
/// The policy or the module cannot be read.
pub fn verify(policy: &Path, module: &Path) -> anyhow::Result<ExitCode> {
    let policy = TrustPolicy::load(policy)?;
    let bytes =
        std::fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    let signers = match policy.verify(&bytes) {
        Ok(signers) => signers,
        Err(error) => {
            eprintln!("sigbox: {}: rejected: {error}", module.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let runtime = Runtime::new(Limits::default()).context("cannot start the wasm engine")?;
    let loaded = LoadedSignature::from_bytes(&runtime, module, &bytes, &[])
        .map_err(|e| anyhow::anyhow!("{}: {}", module.display(), crate::error_chain(&e)))?;
    let info = loaded.info();
    if let Err(error) = policy.check_id(&signers, &info.metadata.id, &info.sha256) {
        eprintln!("sigbox: {}: rejected: {error}", module.display());
        return Ok(ExitCode::FAILURE);
    }
    let names: Vec<&str> = signers.iter().map(|k| k.name.as_str()).collect();
    println!(
        "{}: trusted: {} v{} (sha256 {}) signed by {}",
        module.display(),
        info.metadata.id,
        info.metadata.version,
        info.sha256,
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
