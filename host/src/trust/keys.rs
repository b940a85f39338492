//! Key pairs and signing (`sigbox keygen`, `sigbox sign`).

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use wasmsign2::{KeyPair, Module, SecretKey};

/// Writes a new Ed25519 key pair: `STEM.key` (secret, mode 0600, never
/// overwritten) and `STEM.pub`. Returns both paths.
///
/// # Errors
/// Either file exists, or cannot be written.
pub fn generate(stem: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let secret = stem.with_extension("key");
    let public = stem.with_extension("pub");
    let pair = KeyPair::generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret)
        .with_context(|| {
            format!(
                "cannot create secret key {} (an existing key is never overwritten)",
                secret.display()
            )
        })?;
    std::io::Write::write_all(&mut file, &pair.sk.to_bytes())
        .with_context(|| format!("cannot write {}", secret.display()))?;
    std::fs::write(&public, pair.pk.to_bytes())
        .with_context(|| format!("cannot write {}", public.display()))?;
    Ok((secret, public))
}

/// Signs `module` with the secret key in `key`, embedding the signature
/// (another signature already there is kept: modules can carry several).
/// Writes the result to `out` through a temporary file and a rename.
///
/// # Errors
/// The key or module cannot be read or parsed, or `out` cannot be written.
pub fn sign(key: &Path, module: &Path, out: &Path) -> anyhow::Result<()> {
    let secret = SecretKey::from_file(key)
        .map_err(|e| anyhow::anyhow!("cannot read secret key {}: {e}", key.display()))?;
    let parsed = Module::deserialize_from_file(module).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a WebAssembly module or component: {e}",
            module.display()
        )
    })?;
    // sign_multi adds to the signatures already there (sign would replace them).
    let (signed, _) = secret
        .sign_multi(parsed, None, false, false)
        .map_err(|e| anyhow::anyhow!("cannot sign {}: {e}", module.display()))?;
    let tmp = out.with_extension("wasm.signing");
    signed
        .serialize_to_file(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot rename to {}", out.display()))
}
