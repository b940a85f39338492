//! Key pairs and signing (`sigbox keygen`, `sigbox sign`).

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use std::io::Cursor;

use wasmsign2::{KeyPair, Module, PublicKey, SecretKey};

use super::fingerprint::Fingerprint;
use super::shape::{self, Shape};

/// Writes a new Ed25519 key pair: `STEM.key` (secret, mode 0600, never
/// overwritten) and `STEM.pub`. Returns both paths and the fingerprint.
///
/// # Errors
/// Either file exists, or cannot be written.
pub fn generate(stem: &Path) -> anyhow::Result<(PathBuf, PathBuf, Fingerprint)> {
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
    Ok((secret, public, Fingerprint::of(&pair.pk)))
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
    let bytes = read_module(module)?;
    let public = public_of(&secret);
    if public.verify(&mut Cursor::new(&bytes), None).is_ok() {
        if out != module {
            write_atomically(out, &bytes)?;
        }
        return Ok(Signed::AlreadySigned);
    }
    let parsed = parse(module, &bytes)?;
    // sign_multi adds to the signatures already there (sign would replace
    // them); the key id lets a refusal name a key the policy does not list.
    let key_id = Fingerprint::of(&public).key_id();
    let (signed, _) = secret
        .sign_multi(parsed, Some(&key_id), false, false)
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
    let bytes = read_module(module)?;
    let key_id = Fingerprint::of(&public_of(&secret)).key_id();
    let (_, signature) = secret
        .sign_multi(parse(module, &bytes)?, Some(&key_id), true, false)
        .map_err(|e| anyhow::anyhow!("cannot sign {}: {e}", module.display()))?;
    write_atomically(sig, &signature)
}

/// The fingerprint of the key in `file`: a public key, or the public half
/// of a secret key.
///
/// # Errors
/// The file cannot be read or holds no Ed25519 key.
pub fn fingerprint_of_file(file: &Path) -> anyhow::Result<Fingerprint> {
    let bytes = read_key_file(file)?;
    if let Ok(public) = PublicKey::from_any(&bytes) {
        return Ok(Fingerprint::of(&public));
    }
    match SecretKey::from_any(&bytes) {
        Ok(secret) => Ok(Fingerprint::of(&public_of(&secret))),
        Err(_) => anyhow::bail!(
            "{} is not an Ed25519 key (a .pub or .key from `sigbox keygen`, PEM or DER)",
            file.display()
        ),
    }
}

fn public_of(secret: &SecretKey) -> PublicKey {
    PublicKey {
        pk: secret.sk.public_key(),
        key_id: None,
    }
}

fn read_key_file(file: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read key {}: {e}", file.display()))
}

/// The secret key `sign --key` names, or why it is not one (a public key
/// given by mistake is named as such).
fn read_secret(key: &Path) -> anyhow::Result<SecretKey> {
    let bytes = std::fs::read(key)
        .map_err(|e| anyhow::anyhow!("cannot read secret key {} (--key): {e}", key.display()))?;
    SecretKey::from_any(&bytes).map_err(|e| match PublicKey::from_any(&bytes) {
        Ok(public) => anyhow::anyhow!(
            "{} is a public key ({}): --key needs the secret key, the .key `sigbox keygen` \
             wrote beside it",
            key.display(),
            Fingerprint::of(&public)
        ),
        Err(_) => anyhow::anyhow!(
            "{} (--key) is not an Ed25519 secret key (a .key from `sigbox keygen`, PEM or \
             DER): {e}",
            key.display()
        ),
    })
}

/// The bytes of `module`, if they are a whole WebAssembly module.
fn read_module(module: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(module)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", module.display()))?;
    match shape::of(&bytes) {
        Shape::Complete => Ok(bytes),
        Shape::NotWasm { head } => anyhow::bail!(
            "{} is not a WebAssembly module (starts with {}); sign the .wasm your build wrote",
            module.display(),
            shape::describe_head(&head)
        ),
        Shape::Truncated { size, needed } => anyhow::bail!(
            "{} is truncated: {size} bytes, its sections need at least {needed} (is it still \
             being written?)",
            module.display()
        ),
    }
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
