//! `sigbox pull REF --into DIR [--follow --every D]`: fetch a module by
//! digest, verify it as the daemon would, then rename it into the watched
//! directory. Following polls the tag's digest and installs a new version
//! only when it verifies; the version installed before stays otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};

use super::{
    Connection, MAX_MODULE_BYTES, SIGNATURE_LAYER, WASM_LAYER, credentials, install_file,
    module_file_name, parse_reference,
};
use crate::engine::pull_refusal::PullRefusal;
use crate::engine::{LoadError, Runtime};
use crate::trust::Admission;

/// The older wasm-to-oci layer type (Kubewarden, oci-client's constant),
/// accepted too.
const LEGACY_WASM_LAYER: &str = oci_client::manifest::WASM_LAYER_MEDIA_TYPE;

/// What one install did.
#[derive(Debug)]
pub struct Installed {
    /// The file written (or already there with these bytes).
    pub file: PathBuf,
    /// The manifest digest installed.
    pub digest: String,
    /// `ID vVERSION signed by …`, for the log.
    pub description: String,
    /// False when the directory already held exactly these bytes.
    pub changed: bool,
}

/// A version the trust policy (or the loader) refused: nothing was installed.
#[derive(Debug, thiserror::Error)]
#[error("{reference}: {reason}; nothing installed")]
pub struct Refused {
    /// The manifest refused, pinned by digest.
    pub reference: String,
    /// Why.
    pub reason: String,
}

/// One reference followed into one directory.
pub struct Follow {
    tokio: tokio::runtime::Runtime,
    client: Client,
    auth: RegistryAuth,
    reference: Reference,
    into: PathBuf,
    name: String,
    admission: Admission,
    wasm: Runtime,
}

impl Follow {
    /// Prepares to pull `reference` into `into` (as `name`, or the
    /// repository's last part) under `admission`.
    ///
    /// # Errors
    /// A bad reference, name or directory, unreadable credentials, or the
    /// wasm engine cannot start.
    pub fn new(
        connection: &Connection,
        reference: &str,
        into: &Path,
        name: Option<&str>,
        admission: Admission,
    ) -> anyhow::Result<Self> {
        let reference = parse_reference(reference)?;
        let name = module_file_name(&reference, name)?;
        anyhow::ensure!(
            into.is_dir(),
            "{} is not a directory (--into: the daemon's signatures directory)",
            into.display()
        );
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(Self {
            tokio,
            client: connection.client(&reference),
            auth: credentials(&reference)?,
            reference,
            into: into.to_owned(),
            name,
            admission,
            wasm: Runtime::new(crate::engine::Limits::default())
                .context("cannot start the wasm engine")?,
        })
    }

    /// The manifest digest the reference names now: its pinned digest, or
    /// what the tag points to.
    ///
    /// # Errors
    /// The registry cannot be reached or does not know the reference.
    pub fn current_digest(&self) -> anyhow::Result<String> {
        if let Some(digest) = self.reference.digest() {
            return Ok(digest.to_owned());
        }
        self.tokio
            .block_on(
                self.client
                    .fetch_manifest_digest(&self.reference, &self.auth),
            )
            .with_context(|| format!("cannot resolve {}", self.reference))
    }

    /// Fetches the artifact at `digest`, verifies its module against the
    /// trust policy, and renames it (and its detached signature) into the
    /// directory.
    ///
    /// # Errors
    /// Fetching failed, the artifact is not a signature module, or the
    /// trust policy refuses it (the message says why); nothing is written
    /// then.
    pub fn install(&self, digest: &str) -> anyhow::Result<Installed> {
        let pinned = self.reference.clone_with_digest(digest.to_owned());
        let (module, detached) = self.tokio.block_on(self.fetch(&pinned))?;
        // Verified outside the async runtime: loading calls into the
        // module, whose synchronous WASI calls start their own runtime.
        let shown = self.into.join(&self.name);
        let loaded = crate::trust::admit(
            &self.wasm,
            &self.admission,
            &shown,
            &module,
            detached.as_deref(),
        )
        .map_err(|error| Refused {
            reference: pinned.to_string(),
            reason: match error {
                LoadError::Untrusted { reason, .. } => {
                    format!("refused by the trust policy: {reason}")
                }
                other => format!("not a signature module: {}", crate::error_chain(&other)),
            },
        })?;
        let info = loaded.info();
        let description = format!(
            "{} v{} (module sha256 {}){}",
            info.metadata.id,
            info.metadata.version,
            info.sha256,
            if info.signed_by.is_empty() {
                " unsigned (--allow-unsigned)".to_owned()
            } else {
                format!(" signed by {}", info.signed_by.join(", "))
            }
        );
        let changed = std::fs::read(&shown).ok().as_deref() != Some(&module[..]);
        let sig_name = format!("{}.sig", self.name);
        if changed {
            // The signature first: the module's rename is what the daemon
            // acts on, and it must find its signature already there.
            match &detached {
                Some(signature) => install_file(&self.into, &sig_name, signature)?,
                None => remove_stale(&self.into.join(&sig_name))?,
            }
            install_file(&self.into, &self.name, &module)?;
        }
        Ok(Installed {
            file: shown,
            digest: digest.to_owned(),
            description,
            changed,
        })
    }

    /// The module layer and the detached signature layer (if any) of the
    /// manifest at `pinned`, each checked against its descriptor.
    async fn fetch(&self, pinned: &Reference) -> anyhow::Result<(Vec<u8>, Option<Vec<u8>>)> {
        let (manifest, digest) = self
            .client
            .pull_image_manifest(pinned, &self.auth)
            .await
            .with_context(|| format!("cannot fetch the manifest of {pinned}"))?;
        anyhow::ensure!(
            Some(digest.as_str()) == pinned.digest(),
            "{pinned}: the registry answered with manifest {digest}"
        );
        let (module_layer, signature_layer) = layers(pinned, &manifest)?;
        let module = self.blob(pinned, module_layer).await?;
        let signature = match signature_layer {
            Some(layer) => Some(self.blob(pinned, layer).await?),
            None => None,
        };
        Ok((module, signature))
    }

    async fn blob(&self, pinned: &Reference, layer: &OciDescriptor) -> anyhow::Result<Vec<u8>> {
        anyhow::ensure!(
            usize::try_from(layer.size).is_ok_and(|size| size <= MAX_MODULE_BYTES),
            "{pinned}: layer {} is {} bytes, more than the {MAX_MODULE_BYTES} a module may have",
            layer.digest,
            layer.size
        );
        let mut bytes = Vec::new();
        self.client
            .pull_blob(pinned, layer, &mut bytes)
            .await
            .with_context(|| format!("cannot fetch layer {} of {pinned}", layer.digest))?;
        // oci-client checks the digest; checked here too, as the one thing
        // that ties these bytes to the manifest.
        let sha = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        anyhow::ensure!(
            sha == layer.digest,
            "{pinned}: layer {} arrived with digest {sha}",
            layer.digest
        );
        Ok(bytes)
    }

    /// Leaves (or, once a version verifies, removes) the refusal record
    /// beside the module for the daemon to report (see
    /// [`crate::engine::pull_refusal`]); a failure to do so is logged.
    pub fn record_outcome(&self, outcome: &anyhow::Result<Installed>) {
        let module = self.into.join(&self.name);
        let written = match outcome {
            Ok(_) => PullRefusal::clear(&module),
            Err(error) => match error.downcast_ref::<Refused>() {
                Some(refused) => PullRefusal {
                    reference: refused.reference.clone(),
                    reason: refused.reason.clone(),
                }
                .write(&module),
                // Not a verdict on a version (the registry was unreachable).
                None => Ok(()),
            },
        };
        if let Err(error) = written {
            tracing::warn!(
                "cannot update the refusal record beside {} (the daemon reports refusals from it): {error}",
                module.display()
            );
        }
    }

    /// Polls the tag every `every` until SIGINT or SIGTERM, installing each
    /// new digest that verifies. A digest that was refused is not fetched
    /// again until the tag moves; a registry that cannot be reached is
    /// retried on the next poll. The version installed before stays in
    /// place through both.
    ///
    /// # Errors
    /// Signal handlers cannot be installed.
    pub fn run(&self, every: Duration) -> anyhow::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut interrupt, mut terminate) = self.tokio.block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })?;
        tracing::info!(
            "following {} into {} every {}",
            self.reference,
            self.into.join(&self.name).display(),
            humantime::format_duration(every)
        );
        let mut last: Option<String> = None;
        loop {
            match self.current_digest() {
                Ok(digest) if last.as_deref() == Some(digest.as_str()) => {}
                Ok(digest) => {
                    let outcome = self.install(&digest);
                    self.record_outcome(&outcome);
                    match outcome {
                        Ok(installed) if installed.changed => tracing::info!(
                            "installed {} as {} (manifest {})",
                            installed.description,
                            installed.file.display(),
                            installed.digest
                        ),
                        Ok(installed) => tracing::info!(
                            "{} is already installed as {} (manifest {})",
                            installed.description,
                            installed.file.display(),
                            installed.digest
                        ),
                        Err(error) => tracing::error!(
                            "{error:#}; the version installed before stays until the tag moves again"
                        ),
                    }
                    last = Some(digest);
                }
                Err(error) => {
                    tracing::warn!(
                        "{error:#}; retrying in {}",
                        humantime::format_duration(every)
                    )
                }
            }
            let stop = self.tokio.block_on(async {
                tokio::select! {
                    _ = tokio::time::sleep(every) => false,
                    _ = interrupt.recv() => true,
                    _ = terminate.recv() => true,
                }
            });
            if stop {
                tracing::info!("stopped following {}", self.reference);
                return Ok(());
            }
        }
    }
}

/// The one module layer and the optional signature layer of `manifest`.
fn layers<'m>(
    reference: &Reference,
    manifest: &'m OciImageManifest,
) -> anyhow::Result<(&'m OciDescriptor, Option<&'m OciDescriptor>)> {
    let of_type = |types: &[&str]| -> Vec<&'m OciDescriptor> {
        manifest
            .layers
            .iter()
            .filter(|l| types.contains(&l.media_type.as_str()))
            .collect()
    };
    let modules = of_type(&[WASM_LAYER, LEGACY_WASM_LAYER]);
    let signatures = of_type(&[SIGNATURE_LAYER]);
    match (modules.as_slice(), signatures.as_slice()) {
        ([module], []) => Ok((module, None)),
        ([module], [signature]) => Ok((module, Some(signature))),
        _ => anyhow::bail!(
            "{reference} is not a signature module artifact: it needs one {WASM_LAYER} layer \
             (and at most one {SIGNATURE_LAYER}); it has layers of types {}",
            manifest
                .layers
                .iter()
                .map(|l| l.media_type.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Removes a detached signature left from an earlier version.
fn remove_stale(sig: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(sig) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove the stale {}", sig.display()))
        }
        _ => Ok(()),
    }
}
