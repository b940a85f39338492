//! `sigbox push FILE.wasm REF`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::OciImageManifest;

use super::{Connection, SIGNATURE_LAYER, WASM_CONFIG, WASM_LAYER, credentials, parse_reference};
use crate::engine::SignatureInfo;

/// Pushes `module` (with its detached signature `MODULE.sig`, if there is
/// one) to `reference`; `info` describes it (the caller loaded it, so
/// nothing that is not a signature is pushed). Returns the manifest digest.
///
/// # Errors
/// The reference is invalid, or the registry refused or could not be reached.
pub async fn push(
    connection: &Connection,
    module: &Path,
    bytes: Vec<u8>,
    detached: Option<Vec<u8>>,
    info: &SignatureInfo,
    reference: &str,
) -> anyhow::Result<String> {
    let reference = parse_reference(reference)?;
    let client = connection.client(&reference);
    let auth = credentials(&reference)?;
    let title = module
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut layers = vec![ImageLayer::new(
        bytes,
        WASM_LAYER.to_owned(),
        Some(BTreeMap::from([(
            "org.opencontainers.image.title".to_owned(),
            title,
        )])),
    )];
    if let Some(signature) = detached {
        layers.push(ImageLayer::new(signature, SIGNATURE_LAYER.to_owned(), None));
    }
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": layers.iter().map(ImageLayer::sha256_digest).collect::<Vec<_>>(),
    });
    let config = Config::new(
        serde_json::to_vec(&config).context("encoding the artifact config")?,
        WASM_CONFIG.to_owned(),
        None,
    );
    let annotations = BTreeMap::from([
        (
            "org.opencontainers.image.version".to_owned(),
            info.metadata.version.clone(),
        ),
        (
            "io.sigbox.signature.id".to_owned(),
            info.metadata.id.clone(),
        ),
        (
            "io.sigbox.signature.name".to_owned(),
            info.metadata.name.clone(),
        ),
    ]);
    let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
    client
        .push(&reference, &layers, config, &auth, Some(manifest))
        .await
        .with_context(|| format!("cannot push to {reference}"))?;
    client
        .fetch_manifest_digest(&reference, &auth)
        .await
        .with_context(|| format!("pushed, but cannot read back the digest of {reference}"))
}
