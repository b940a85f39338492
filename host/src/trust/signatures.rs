//! Who signed a module, as far as a policy can tell: the listed keys whose
//! signature covers these bytes, the listed keys whose signature covers
//! other bytes (modified after signing), and the fingerprints of signers the
//! policy does not list (from the key id `sigbox sign` stores).

use std::io::Cursor;

use wasmsign2::{PublicKey, WSError};

use super::fingerprint::Fingerprint;

/// One module's signatures, seen through a policy's keys (indexes into the
/// key list given to [`examine`]).
#[derive(Debug, Default)]
pub struct Examined {
    /// Keys whose signature covers the module as it is.
    pub valid: Vec<usize>,
    /// Keys that signed other contents, or whose signature was altered.
    pub stale: Vec<usize>,
    /// Signers not in the policy: their fingerprint, or what is known.
    pub unknown: Vec<String>,
    /// Whether the module carries any signature (embedded or detached).
    pub signed: bool,
    /// A signature section or file that does not parse.
    pub damaged: bool,
}

/// Checks every signature over `bytes` (embedded, or `detached` over the
/// module without its embedded signature) against `keys`.
pub fn examine(
    keys: &[(PublicKey, Fingerprint)],
    bytes: &[u8],
    detached: Option<&[u8]>,
) -> Examined {
    // A detached signature covers the module without any embedded
    // signature section (as `sign_multi` hashes it), so a module can carry
    // both kinds.
    let unembedded = detached.map(|signature| (without_embedded_signatures(bytes), signature));
    let candidates: Vec<(&[u8], Option<&[u8]>)> = std::iter::once((bytes, None))
        .chain(unembedded.as_ref().map(|(m, s)| (m.as_slice(), Some(*s))))
        .collect();

    let mut seen = Examined::default();
    let mut key_ids: Vec<Vec<u8>> = Vec::new();
    let mut anonymous = 0;
    for (module, signature) in &candidates {
        let info = match signature {
            Some(signature) => wasmsign2::signature_info_from_detached(signature),
            None => wasmsign2::signature_info_from_reader(&mut Cursor::new(module), None),
        };
        match info {
            Ok(info) => {
                seen.signed |= info.is_signed();
                anonymous += info.signature_count() - info.key_ids().len();
                key_ids.extend(info.key_ids().iter().cloned());
            }
            Err(WSError::NoSignatures) => {}
            // An unsigned file that is not a module at all is judged elsewhere.
            Err(WSError::UnsupportedModuleType) => {}
            Err(_) => {
                seen.signed = true;
                seen.damaged = true;
            }
        }
    }
    for (index, (key, fingerprint)) in keys.iter().enumerate() {
        let covers = |check: fn(&PublicKey, &[u8], Option<&[u8]>) -> bool| {
            candidates
                .iter()
                .any(|(module, signature)| check(key, module, *signature))
        };
        let named = key_ids.contains(&fingerprint.key_id());
        let valid = covers(covers_these_bytes);
        let signed = valid || covers(signed_any_contents);
        if valid {
            seen.valid.push(index);
        } else if named || signed {
            seen.stale.push(index);
        }
        if signed && !named {
            // This listed key's signature carried no id: not an unknown signer.
            anonymous = anonymous.saturating_sub(1);
        }
    }
    let listed: Vec<Vec<u8>> = keys.iter().map(|(_, f)| f.key_id()).collect();
    for id in key_ids.iter().filter(|id| !listed.contains(id)) {
        seen.unknown.push(match Fingerprint::from_key_id(id) {
            Some(fingerprint) => fingerprint.to_string(),
            None => format!("key id {}", hex::encode(id)),
        });
    }
    if anonymous > 0 {
        seen.unknown.push(format!(
            "{anonymous} key(s) whose signature names no key (not signed by `sigbox sign`)"
        ));
    }
    seen
}

/// Whether `key` signed exactly `module`.
fn covers_these_bytes(key: &PublicKey, module: &[u8], signature: Option<&[u8]>) -> bool {
    key.verify(&mut Cursor::new(module), signature).is_ok()
}

/// Whether `key` made one of the signatures, whatever contents it covers:
/// `verify_multi` checks the signed hashes against the module only at
/// delimiters, which `sigbox sign` never adds, after it has checked that
/// the key signed some hashes (`VerificationFailed` when it did not).
fn signed_any_contents(key: &PublicKey, module: &[u8], signature: Option<&[u8]>) -> bool {
    matches!(
        key.verify_multi(&mut Cursor::new(module), signature, |_| true),
        Ok(()) | Err(WSError::VerificationFailedForPredicates)
    )
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
