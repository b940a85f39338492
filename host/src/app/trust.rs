//! `sigbox keygen`, `sigbox sign`, `sigbox verify`: signing modules and
//! checking them against a trust policy (see [`crate::trust`]).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::engine::{Limits, LoadError, Runtime};
use crate::trust::{Gate, TrustMode, keys};

/// `sigbox keygen STEM`: writes STEM.key and STEM.pub.
///
/// # Errors
/// As [`keys::generate`].
pub fn keygen(stem: &Path) -> anyhow::Result<ExitCode> {
    let (secret, public, fingerprint) = keys::generate(stem)?;
    println!(
        "secret key {} (keep it private), public key {} (list it in a trust policy), \
         fingerprint {fingerprint}",
        secret.display(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `sigbox sign --key KEY FILE.wasm [--out OUT] [--detached]`.
///
/// # Errors
/// As [`keys::sign`] and [`keys::sign_detached`].
pub fn sign(
    key: &Path,
    module: &Path,
    out: Option<&Path>,
    detached: bool,
) -> anyhow::Result<ExitCode> {
    // Read after signing, so a bad --key is reported by the signing step.
    let fingerprint = || keys::fingerprint_of_file(key);
    if detached {
        let sig = crate::trust::detached_signature_path(out.unwrap_or(module));
        keys::sign_detached(key, module, &sig)?;
        let fingerprint = fingerprint()?;
        println!(
            "signed {} with key {fingerprint}: signature in {}",
            module.display(),
            sig.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let out = out.unwrap_or(module);
    let signed = keys::sign(key, module, out)?;
    let fingerprint = fingerprint()?;
    match signed {
        keys::Signed::Added => println!("signed {} with key {fingerprint}", out.display()),
        keys::Signed::AlreadySigned => println!(
            "{} already carries the signature of key {fingerprint}",
            module.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `sigbox fingerprint KEY...`: each key's fingerprint (a `.pub`, or the
/// public half of a `.key`), as keygen, sign, verify and refusals quote it.
///
/// # Errors
/// A file cannot be read or holds no key.
pub fn fingerprint(files: &[std::path::PathBuf]) -> anyhow::Result<ExitCode> {
    for file in files {
        println!("{}  {}", keys::fingerprint_of_file(file)?, file.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `sigbox verify --trust POLICY FILE.wasm`: exactly the check `sigbox
/// run` makes before loading a module (signatures on the bytes read once,
/// embedded or in `FILE.wasm.sig`, then the id the module claims and its
/// digest). Exit status 1 when not trusted.
///
/// # Errors
/// The policy or the module cannot be read.
pub fn verify(policy: &Path, module: &Path) -> anyhow::Result<ExitCode> {
    let admission = Gate::open(&TrustMode::Policy(policy.to_owned()))?.admission();
    let bytes =
        std::fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    let runtime = Runtime::new(Limits::default()).context("cannot start the wasm engine")?;
    let detached = std::fs::read(crate::trust::detached_signature_path(module)).ok();
    match crate::engine::admit(&runtime, &admission, module, &bytes, detached.as_deref()) {
        Ok(loaded) => {
            let info = loaded.info();
            println!(
                "{}: trusted: {} v{} (module sha256 {}) signed by {}",
                module.display(),
                info.metadata.id,
                info.metadata.version,
                info.sha256,
                info.signed_by.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ LoadError::Untrusted { .. }) => {
            eprintln!("sigbox: {error}");
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(anyhow::anyhow!("{}", crate::error_chain(&error))),
    }
}
