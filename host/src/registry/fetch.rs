//! Registry reads bounded in size and time, for `sigbox pull`: manifests
//! and blobs are streamed and cut off as soon as they pass their
//! descriptor's size or the cap, and every stall or slow answer ends in an
//! error that names the option that bounds it.
//!
//! oci-client reads manifests and blobs whole before anything can look at
//! their size, so only its authentication handshake is used here.

use std::time::Duration;

use anyhow::Context;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest, Sha256};

/// The manifest types asked for (a signature module is one image manifest).
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
                              application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest read: what the CNCF distribution registry accepts
/// (a module artifact's manifest is about 1 KiB).
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// How long a registry may take (`pull --connect-timeout`, `--read-timeout`,
/// `--pull-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection.
    pub connect: Duration,
    /// Between two reads of an answer (headers or body).
    pub read: Duration,
    /// For one whole pull: resolving the tag, the manifest and every blob.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            total: Duration::from_secs(300),
        }
    }
}

impl Timeouts {
    /// The error for a pull that ran past `total`.
    pub(crate) fn total_exceeded(&self, what: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{what}: gave up after {} (--pull-timeout)",
            humantime::format_duration(self.total)
        )
    }

    /// `error` from talking to the registry, a timeout named by its option.
    pub(crate) fn explain(&self, error: anyhow::Error) -> anyhow::Error {
        let timed_out = error
            .chain()
            .filter_map(|e| e.downcast_ref::<reqwest::Error>())
            .find(|e| e.is_timeout());
        match timed_out {
            Some(e) if e.is_connect() => error.context(format!(
                "could not connect within {} (--connect-timeout)",
                humantime::format_duration(self.connect)
            )),
            Some(_) => error.context(format!(
                "the registry sent nothing for {} (--read-timeout)",
                humantime::format_duration(self.read)
            )),
            None => error,
        }
    }
}

/// Reads from one registry for one reference.
pub(crate) struct Reader<'c> {
    http: &'c reqwest::Client,
    /// `http` or `https`.
    scheme: &'static str,
    credential: Credential,
}

/// What each request carries, as the registry asked for it.
enum Credential {
    Anonymous,
    Bearer(String),
    Basic(String, String),
}

impl<'c> Reader<'c> {
    /// Goes through the registry's authentication handshake (through
    /// oci-client) for pulling `reference`.
    ///
    /// # Errors
    /// The registry or its token service cannot be reached, or refuses.
    pub(crate) async fn open(
        oci: &Client,
        auth: &RegistryAuth,
        http: &'c reqwest::Client,
        scheme: &'static str,
        reference: &Reference,
    ) -> anyhow::Result<Self> {
        let token = oci
            .auth(reference, auth, RegistryOperation::Pull)
            .await
            .with_context(|| format!("cannot authenticate to {}", reference.resolve_registry()))?;
        let credential = match (token, auth) {
            (Some(token), _) => Credential::Bearer(token),
            (None, RegistryAuth::Basic(user, password)) => {
                Credential::Basic(user.clone(), password.clone())
            }
            (None, _) => Credential::Anonymous,
        };
        Ok(Self {
            http,
            scheme,
            credential,
        })
    }

    /// The manifest digest the tag names now: from a HEAD's
    /// `Docker-Content-Digest`, else the digest of the manifest itself.
    ///
    /// # Errors
    /// The registry cannot be reached, does not know the tag, or answers
    /// with more than [`MAX_MANIFEST_BYTES`].
    pub(crate) async fn resolve(&self, reference: &Reference) -> anyhow::Result<String> {
        let url = self.manifest_url(reference);
        let answer = self.send(reference, self.http.head(&url)).await?;
        let header = answer
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with("sha256:") && v.len() == 71);
        match header {
            Some(digest) => Ok(digest.to_owned()),
            None => {
                let body = self.manifest(reference).await?;
                Ok(sha256(&body))
            }
        }
    }

    /// The manifest at `reference`, read up to [`MAX_MANIFEST_BYTES`] and
    /// checked against the digest the reference pins (if it does).
    ///
    /// # Errors
    /// Unreachable, unknown, too large, or not the pinned digest.
    pub(crate) async fn manifest(&self, reference: &Reference) -> anyhow::Result<Vec<u8>> {
        let url = self.manifest_url(reference);
        let answer = self.send(reference, self.http.get(&url)).await?;
        let body = read_capped(
            answer,
            MAX_MANIFEST_BYTES,
            "the manifest",
            "the manifest limit",
        )
        .await
        .with_context(|| format!("cannot fetch the manifest of {reference}"))?;
        if let Some(pinned) = reference.digest() {
            let got = sha256(&body);
            anyhow::ensure!(
                got == pinned,
                "{reference}: the registry answered with manifest {got}"
            );
        }
        Ok(body)
    }

    /// The blob `digest` of `reference`'s repository: at most `size` bytes
    /// (its descriptor's size), checked against the digest.
    ///
    /// # Errors
    /// Unreachable, unknown, longer or shorter than `size`, or not `digest`.
    pub(crate) async fn blob(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
    ) -> anyhow::Result<Vec<u8>> {
        let url = format!(
            "{}://{}/v2/{}/blobs/{digest}",
            self.scheme,
            reference.resolve_registry(),
            reference.repository()
        );
        let what = || format!("cannot fetch layer {digest} of {reference}");
        let answer = self
            .send(reference, self.http.get(&url))
            .await
            .with_context(what)?;
        let bytes = read_capped(answer, size, "the layer", "its descriptor's size")
            .await
            .with_context(what)?;
        anyhow::ensure!(
            bytes.len() as u64 == size,
            "{reference}: layer {digest} has {} bytes, its descriptor says {size}",
            bytes.len()
        );
        // The one thing that ties these bytes to the manifest.
        let got = sha256(&bytes);
        anyhow::ensure!(
            got == digest,
            "{reference}: layer {digest} arrived with digest {got}"
        );
        Ok(bytes)
    }

    fn manifest_url(&self, reference: &Reference) -> String {
        format!(
            "{}://{}/v2/{}/manifests/{}",
            self.scheme,
            reference.resolve_registry(),
            reference.repository(),
            reference.digest().or(reference.tag()).unwrap_or("latest")
        )
    }

    /// Sends `request` with the credentials the registry asks for; a
    /// status other than 2xx is an error with the start of its body.
    async fn send(
        &self,
        reference: &Reference,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let request = match &self.credential {
            Credential::Bearer(token) => request.bearer_auth(token),
            Credential::Basic(user, password) => request.basic_auth(user, Some(password)),
            Credential::Anonymous => request,
        };
        let answer = request
            .header(reqwest::header::ACCEPT, MANIFEST_TYPES)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", reference.resolve_registry()))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(answer);
        }
        let url = answer.url().clone();
        // Enough of the error body to say why, no more.
        let body = read_capped(answer, 512, "the error", "512 bytes")
            .await
            .unwrap_or_default();
        anyhow::bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        )
    }
}

/// The body of `answer`, refused as soon as it passes `cap` bytes (and
/// before reading anything when its `Content-Length` already does).
async fn read_capped(
    mut answer: reqwest::Response,
    cap: u64,
    what: &str,
    cap_name: &str,
) -> anyhow::Result<Vec<u8>> {
    if let Some(length) = answer.content_length() {
        anyhow::ensure!(
            length <= cap,
            "{what} is {length} bytes, more than {cap_name} ({cap} bytes)"
        );
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await? {
        anyhow::ensure!(
            body.len() as u64 + chunk.len() as u64 <= cap,
            "{what} passed {cap_name} ({cap} bytes) while streaming; the rest was not read"
        );
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `sha256:HEX` of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
