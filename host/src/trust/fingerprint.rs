//! A key's printable name: `sha256:` and the first 16 hex digits of the
//! SHA-256 of its public key in wasmsign2's raw encoding, the bytes `sigbox
//! keygen` writes to `STEM.pub` (so `sha256sum STEM.pub` shows it too).
//! `sigbox sign` embeds it in each signature as the key id, which is how a
//! refusal can name a key the policy does not list.

use sha2::{Digest, Sha256};
use wasmsign2::PublicKey;

/// Hex digits kept: 64 bits name a key among a team's, not prove it.
const HEX_DIGITS: usize = 16;
const PREFIX: &str = "sha256:";

/// A public key's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of `key`.
    pub fn of(key: &PublicKey) -> Self {
        let digest = hex::encode(Sha256::digest(key.to_bytes()));
        Self(format!("{PREFIX}{}", &digest[..HEX_DIGITS]))
    }

    /// The key id `sign` stores with a signature: the fingerprint's text.
    pub fn key_id(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }

    /// The fingerprint a signature's key id names, if it is one
    /// (other tools store other ids, or none).
    pub fn from_key_id(id: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(id).ok()?;
        let digits = text.strip_prefix(PREFIX)?;
        (digits.len() == HEX_DIGITS && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(text.to_ascii_lowercase()))
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmsign2::KeyPair;

    #[test]
    fn is_the_start_of_the_pub_files_sha256_and_round_trips_as_a_key_id() {
        let key = KeyPair::generate().pk;
        let fingerprint = Fingerprint::of(&key);
        let whole = hex::encode(Sha256::digest(key.to_bytes()));
        assert_eq!(fingerprint.to_string(), format!("sha256:{}", &whole[..16]));
        assert_eq!(
            Fingerprint::from_key_id(&fingerprint.key_id()),
            Some(fingerprint)
        );
        assert_eq!(Fingerprint::from_key_id(b"\x01\x02"), None);
        assert_eq!(Fingerprint::from_key_id(b"sha256:xyz"), None);
    }
}
