//! Key pairs and signing (`sigbox keygen`, `sigbox sign`).

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use std::io::Cursor;

use wasmsign2::{KeyPair, Module, PublicKey, SecretKey};

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

/// What [`sign`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Signed {
    /// A signature was added.
    Added,
    /// The module already carried a valid signature by this key (so `make`
    /// can sign every build without piling up signatures); nothing written
    /// unless `out` differs from `module`.
    AlreadySigned,
}

/// Signs `module` with the secret key in `key`, embedding the signature
/// (another signature already there is kept: modules can carry several).
/// Writes the result to `out` through a temporary file and a rename.
///
/// # Errors
/// The key or module cannot be read or parsed, or `out` cannot be written.
pub fn sign(key: &Path, module: &Path, out: &Path) -> anyhow::Result<Signed> {
    let secret = read_secret(key)?;
    let bytes =
        std::fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    let public = PublicKey {
        pk: secret.sk.public_key(),
        key_id: None,
    };
    if public.verify(&mut Cursor::new(&bytes), None).is_ok() {
        if out != module {
            write_atomically(out, &bytes)?;
        }
        return Ok(Signed::AlreadySigned);
    }
    let parsed = parse(module, &bytes)?;
    // sign_multi adds to the signatures already there (sign would replace them).
    let (signed, _) = secret
        .sign_multi(parsed, None, false, false)
        .map_err(|e| anyhow::anyhow!("cannot sign {}: {e}", module.display()))?;
    let mut serialized = Vec::new();
    signed
        .serialize(&mut serialized)
        .map_err(|e| anyhow::anyhow!("cannot serialize {}: {e}", module.display()))?;
    write_atomically(out, &serialized)?;
    Ok(Signed::Added)
}

/// Signs `module` without changing it: the signature goes to `sig` (the
/// module's `NAME.wasm.sig`, which `sigbox run` reads beside it).
///
/// # Errors
/// The key or module cannot be read or parsed, or `sig` cannot be written.
pub fn sign_detached(key: &Path, module: &Path, sig: &Path) -> anyhow::Result<()> {
    let secret = read_secret(key)?;
    let bytes =
        std::fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    let (_, signature) = secret
        .sign_multi(parse(module, &bytes)?, None, true, false)
        .map_err(|e| anyhow::anyhow!("cannot sign {}: {e}", module.display()))?;
    write_atomically(sig, &signature)
}

fn read_secret(key: &Path) -> anyhow::Result<SecretKey> {
    SecretKey::from_file(key)
        .map_err(|e| anyhow::anyhow!("cannot read secret key {}: {e}", key.display()))
}

fn parse(module: &Path, bytes: &[u8]) -> anyhow::Result<Module> {
    Module::deserialize(&mut Cursor::new(bytes)).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a WebAssembly module or component: {e}",
            module.display()
        )
    })
}

/// Writes `bytes` to `out` through a temporary file beside it and a rename,
/// so a watched directory never sees half a file.
fn write_atomically(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".signing");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot rename to {}", out.display()))
}
