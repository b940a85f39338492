//! `sigbox pull REF --into DIR [--follow --every D]`: fetch a module by
//! digest, verify it as the daemon would, then rename it into the watched
//! directory. Following polls the tag's digest and installs a new version
//! only when it verifies; the version installed before stays otherwise.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::signal::unix::Signal;

use super::fetch::{Reader, Timeouts, sha256};
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
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reference}: {reason}; nothing installed")]
pub struct Refused {
    /// The manifest refused, pinned by digest.
    pub reference: String,
    /// Its digest.
    pub digest: String,
    /// Why.
    pub reason: String,
}

/// A pull ended by SIGINT or SIGTERM: nothing was installed.
#[derive(Debug, thiserror::Error)]
#[error("stopped by {signal} while pulling {reference}; nothing installed")]
pub struct Interrupted {
    /// `SIGINT` or `SIGTERM`.
    pub signal: &'static str,
    /// What was being pulled.
    pub reference: String,
}

/// How many manifest digests (installed or refused) a follower remembers.
const REMEMBERED: usize = 8;

/// What a follower learnt in earlier polls, so that a digest seen before is
/// not fetched, nor a module verified, again.
#[derive(Default)]
struct Known {
    /// Manifests whose module is the one installed now.
    installed: VecDeque<String>,
    /// Manifests refused, and why.
    refused: VecDeque<Refused>,
    /// The layer digests (module, signature) last verified, and what they are.
    verified: Option<(String, Option<String>, String)>,
}

/// The artifact a manifest names, ready to verify.
struct Fetched {
    digest: String,
    module: Vec<u8>,
    detached: Option<Vec<u8>>,
    /// The layer digests (module, signature).
    layers: (String, Option<String>),
}

/// One reference followed into one directory.
pub struct Follow {
    tokio: tokio::runtime::Runtime,
    client: Client,
    http: reqwest::Client,
    scheme: &'static str,
    timeouts: Timeouts,
    auth: RegistryAuth,
    reference: Reference,
    into: PathBuf,
    name: String,
    admission: Admission,
    wasm: Runtime,
    signals: RefCell<(Signal, Signal)>,
    known: RefCell<Known>,
}

impl Follow {
    /// Prepares to pull `reference` into `into` (as `name`, or the
    /// repository's last part) under `admission`. From here on, SIGINT and
    /// SIGTERM end a pull under way (see [`Interrupted`]).
    ///
    /// # Errors
    /// A bad reference, name or directory, unreadable credentials, or the
    /// wasm engine, HTTP client or signal handlers cannot start.
    pub fn new(
        connection: &Connection,
        reference: &str,
        into: &Path,
        name: Option<&str>,
        admission: Admission,
    ) -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
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
        let signals = tokio
            .block_on(async {
                Ok::<_, std::io::Error>((
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                ))
            })
            .context("cannot handle SIGINT and SIGTERM")?;
        Ok(Self {
            tokio,
            client: connection.client(&reference),
            http: connection.http()?,
            scheme: connection.scheme(&reference),
            timeouts: connection.timeouts,
            auth: credentials(&reference)?,
            reference,
            into: into.to_owned(),
            name,
            admission,
            wasm: Runtime::new(crate::engine::Limits::default())
                .context("cannot start the wasm engine")?,
            signals: RefCell::new(signals),
            known: RefCell::new(Known::default()),
        })
    }

    /// Runs `work` to its end, [`Timeouts::total`] at most, or until
    /// SIGINT or SIGTERM ([`Interrupted`]).
    fn block_on<T>(
        &self,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let mut signals = self.signals.borrow_mut();
        let (interrupt, terminate) = &mut *signals;
        let interrupted = |signal| Interrupted {
            signal,
            reference: self.reference.to_string(),
        };
        self.tokio.block_on(async {
            tokio::select! {
                done = tokio::time::timeout(self.timeouts.total, work) => match done {
                    Ok(done) => done.map_err(|e| self.timeouts.explain(e)),
                    Err(_) => Err(self.timeouts.total_exceeded(&self.reference.to_string())),
                },
                _ = interrupt.recv() => Err(interrupted("SIGINT").into()),
                _ = terminate.recv() => Err(interrupted("SIGTERM").into()),
            }
        })
    }

    /// Pulls what the reference names now: resolves it, fetches the
    /// manifest and the layers the directory does not hold already,
    /// verifies the module against the trust policy, and renames it (and
    /// its detached signature) into the directory. `None`: the manifest
    /// is one this follower installed before, and nothing was fetched.
    ///
    /// # Errors
    /// The registry failed or ran out of time ([`Timeouts`]), SIGINT or
    /// SIGTERM came ([`Interrupted`]), the artifact is not a signature
    /// module, or the trust policy refuses it ([`Refused`]); nothing is
    /// written then.
    pub fn poll(&self) -> anyhow::Result<Option<Installed>> {
        let installed_now = self.installed_layers();
        let fetched = self.block_on(async {
            let reader = Reader::open(
                &self.client,
                &self.auth,
                &self.http,
                self.scheme,
                &self.reference,
            )
            .await?;
            let digest = match self.reference.digest() {
                Some(digest) => digest.to_owned(),
                None => reader
                    .resolve(&self.reference)
                    .await
                    .with_context(|| format!("cannot resolve {}", self.reference))?,
            };
            {
                let known = self.known.borrow();
                if known.installed.contains(&digest) {
                    return Ok(None);
                }
                if let Some(refused) = known.refused.iter().find(|r| r.digest == digest) {
                    return Err(refused.clone().into());
                }
            }
            self.fetch(&reader, digest, &installed_now).await.map(Some)
        })?;
        let Some(fetched) = fetched else {
            return Ok(None);
        };
        let outcome = self.verify_and_install(&fetched);
        let mut known = self.known.borrow_mut();
        match &outcome {
            Ok(installed) => {
                if installed.changed {
                    known.installed.clear();
                }
                remember(&mut known.installed, fetched.digest.clone());
                known.verified = Some((
                    fetched.layers.0.clone(),
                    fetched.layers.1.clone(),
                    installed.description.clone(),
                ));
            }
            Err(error) => {
                if let Some(refused) = error.downcast_ref::<Refused>() {
                    remember(&mut known.refused, refused.clone());
                }
            }
        }
        outcome.map(Some)
    }

    /// The sha256 digests of the module (and detached signature) the
    /// directory holds now under this name.
    fn installed_layers(&self) -> Option<(String, Option<String>)> {
        let module = std::fs::read(self.into.join(&self.name)).ok()?;
        let signature = std::fs::read(self.into.join(format!("{}.sig", self.name))).ok();
        Some((sha256(&module), signature.as_deref().map(sha256)))
    }

    /// The manifest at `digest` and its layers: from the directory when it
    /// holds them already, else from the registry, each read bounded.
    async fn fetch(
        &self,
        reader: &Reader<'_>,
        digest: String,
        installed: &Option<(String, Option<String>)>,
    ) -> anyhow::Result<Fetched> {
        let pinned = self.reference.clone_with_digest(digest.clone());
        let body = reader.manifest(&pinned).await?;
        let manifest: OciImageManifest = serde_json::from_slice(&body)
            .with_context(|| format!("{pinned}: the manifest is not an OCI image manifest"))?;
        let (module_layer, signature_layer) = layers(&pinned, &manifest)?;
        let layer_digests = (
            module_layer.digest.clone(),
            signature_layer.map(|l| l.digest.clone()),
        );
        if installed.as_ref() == Some(&layer_digests) {
            // Another manifest for the bytes already here (a tag re-pushed
            // with new annotations): nothing to download.
            let module = std::fs::read(self.into.join(&self.name))?;
            let detached = std::fs::read(self.into.join(format!("{}.sig", self.name))).ok();
            return Ok(Fetched {
                digest,
                module,
                detached,
                layers: layer_digests,
            });
        }
        let module = self.blob(reader, &pinned, module_layer).await?;
        let detached = match signature_layer {
            Some(layer) => Some(self.blob(reader, &pinned, layer).await?),
            None => None,
        };
        Ok(Fetched {
            digest,
            module,
            detached,
            layers: layer_digests,
        })
    }

    async fn blob(
        &self,
        reader: &Reader<'_>,
        pinned: &Reference,
        layer: &OciDescriptor,
    ) -> anyhow::Result<Vec<u8>> {
        let size = u64::try_from(layer.size)
            .ok()
            .filter(|&size| size <= MAX_MODULE_BYTES as u64);
        let Some(size) = size else {
            anyhow::bail!(
                "{pinned}: layer {} is {} bytes, more than the {MAX_MODULE_BYTES} a module may have",
                layer.digest,
                layer.size
            );
        };
        reader.blob(pinned, &layer.digest, size).await
    }

    /// Verifies `fetched` against the trust policy (unless these very
    /// layers were verified before) and installs it when the directory
    /// does not hold these bytes yet.
    fn verify_and_install(&self, fetched: &Fetched) -> anyhow::Result<Installed> {
        let pinned = self.reference.clone_with_digest(fetched.digest.clone());
        let shown = self.into.join(&self.name);
        let verified = self
            .known
            .borrow()
            .verified
            .as_ref()
            .filter(|(module, signature, _)| {
                (module, signature) == (&fetched.layers.0, &fetched.layers.1)
            })
            .map(|(_, _, description)| description.clone());
        let description = match verified {
            Some(description) => description,
            None => self.verify(&pinned, &shown, fetched)?,
        };
        let changed = std::fs::read(&shown).ok().as_deref() != Some(&fetched.module[..]);
        let sig_name = format!("{}.sig", self.name);
        if changed {
            // The signature first: the module's rename is what the daemon
            // acts on, and it must find its signature already there.
            match &fetched.detached {
                Some(signature) => install_file(&self.into, &sig_name, signature)?,
                None => remove_stale(&self.into.join(&sig_name))?,
            }
            install_file(&self.into, &self.name, &fetched.module)?;
        }
        Ok(Installed {
            file: shown,
            digest: fetched.digest.clone(),
            description,
            changed,
        })
    }

    /// `ID vVERSION (module sha256 …) signed by …`, once the module
    /// verifies as the daemon would check it.
    fn verify(
        &self,
        pinned: &Reference,
        shown: &Path,
        fetched: &Fetched,
    ) -> anyhow::Result<String> {
        // Verified outside the async runtime: loading calls into the
        // module, whose synchronous WASI calls start their own runtime.
        let loaded = crate::engine::admit(
            &self.wasm,
            &self.admission,
            shown,
            &fetched.module,
            fetched.detached.as_deref(),
        )
        .map_err(|error| Refused {
            reference: pinned.to_string(),
            digest: fetched.digest.clone(),
            reason: match error {
                LoadError::Untrusted { reason, .. } => {
                    format!("refused by the trust policy: {reason}")
                }
                other => format!("not a signature module: {}", crate::error_chain(&other)),
            },
        })?;
        let info = loaded.info();
        Ok(format!(
            "{} v{} (module sha256 {}){}",
            info.metadata.id,
            info.metadata.version,
            info.sha256,
            if info.signed_by.is_empty() {
                " unsigned (--allow-unsigned)".to_owned()
            } else {
                format!(" signed by {}", info.signed_by.join(", "))
            }
        ))
    }

    /// Leaves (or, once a version verifies, removes) the refusal record
    /// beside the module for the daemon to report (see
    /// [`crate::engine::pull_refusal`]); a failure to do so is logged.
    pub fn record_outcome(&self, outcome: &anyhow::Result<Option<Installed>>) {
        let module = self.into.join(&self.name);
        let written = match outcome {
            Ok(Some(_)) => PullRefusal::clear(&module),
            // The manifest installed before: nothing new to say.
            Ok(None) => Ok(()),
            Err(error) => match error.downcast_ref::<Refused>() {
                Some(refused) => PullRefusal {
                    reference: refused.reference.clone(),
                    reason: refused.reason.clone(),
                }
                .write(&module),
                // Not a verdict on a version (the registry failed, or a signal).
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

    /// Polls the tag every `every` until SIGINT or SIGTERM (which also end
    /// a poll under way), installing each new digest that verifies. A
    /// digest installed or refused is not fetched again; a poll that
    /// failed (the registry unreachable, slow or misbehaving) is retried
    /// at the next one. The version installed before stays in place
    /// through all of these.
    ///
    /// # Errors
    /// None yet: every failure is a poll's, logged.
    pub fn run(&self, every: Duration) -> anyhow::Result<()> {
        tracing::info!(
            "following {} into {} every {}",
            self.reference,
            self.into.join(&self.name).display(),
            humantime::format_duration(every)
        );
        let mut last_refusal: Option<String> = None;
        loop {
            let outcome = self.poll();
            self.record_outcome(&outcome);
            match outcome {
                Ok(None) => {}
                Ok(Some(installed)) => {
                    last_refusal = None;
                    if installed.changed {
                        tracing::info!(
                            "installed {} as {} (manifest {})",
                            installed.description,
                            installed.file.display(),
                            installed.digest
                        );
                    } else {
                        tracing::info!(
                            "{} is already installed as {} (manifest {})",
                            installed.description,
                            installed.file.display(),
                            installed.digest
                        );
                    }
                }
                Err(error) if error.is::<Interrupted>() => {
                    tracing::info!("{error}; stopped following {}", self.reference);
                    return Ok(());
                }
                Err(error) if error.is::<Refused>() => {
                    let message = format!("{error:#}");
                    if last_refusal.as_deref() != Some(message.as_str()) {
                        tracing::error!(
                            "{message}; the version installed before stays until the tag moves again"
                        );
                        last_refusal = Some(message);
                    }
                }
                Err(error) => tracing::warn!(
                    "{error:#}; the version installed before stays; retrying in {}",
                    humantime::format_duration(every)
                ),
            }
            let stop = {
                let mut signals = self.signals.borrow_mut();
                let (interrupt, terminate) = &mut *signals;
                self.tokio.block_on(async {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => false,
                        _ = interrupt.recv() => true,
                        _ = terminate.recv() => true,
                    }
                })
            };
            if stop {
                tracing::info!("stopped following {}", self.reference);
                return Ok(());
            }
        }
    }
}

/// Adds `item` to a memory of at most [`REMEMBERED`], forgetting the oldest.
fn remember<T>(memory: &mut VecDeque<T>, item: T) {
    if memory.len() == REMEMBERED {
        memory.pop_front();
    }
    memory.push_back(item);
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
             (and at most one {SIGNATURE_LAYER}); it has {}",
            layer_summary(&manifest.layers)
        ),
    }
}

/// The layers' types for an error line, bounded whatever the manifest
/// holds: the first few (each cut short) and how many there are.
fn layer_summary(layers: &[OciDescriptor]) -> String {
    const SHOWN: usize = 3;
    const TYPE_CHARS: usize = 80;
    let mut types: Vec<String> = layers
        .iter()
        .take(SHOWN)
        .map(|l| {
            let mut shown: String = l.media_type.chars().take(TYPE_CHARS).collect();
            if shown.len() < l.media_type.len() {
                shown.push('…');
            }
            format!("{shown:?}")
        })
        .collect();
    if layers.len() > SHOWN {
        types.push(format!("… ({} more)", layers.len() - SHOWN));
    }
    match layers.len() {
        0 => "no layers".to_owned(),
        n => format!("{n} layer(s) of types {}", types.join(", ")),
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
