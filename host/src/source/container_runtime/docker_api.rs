//! The Docker Engine API (Docker's socket, and Podman's Docker-compatible
//! service): what Tracee's Docker enricher asks, `GET /containers/{id}/json`,
//! then `GET /images/{image}/json` for the image's tag and digest.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::http::{ApiError, get_json, is_path_safe};
use crate::event::{ContainerInfo, PodInfo};

/// The label dockershim put on a pod's sandbox (`sandbox`) and containers.
const DOCKER_TYPE_LABEL: &str = "io.kubernetes.docker.type";

/// The parts of `GET /containers/{id}/json` used.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerJson {
    #[serde(default)]
    name: String,
    /// The image's id.
    #[serde(default)]
    image: String,
    #[serde(default)]
    config: Option<ContainerConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    /// The image as the container was created from it.
    #[serde(default)]
    image: String,
    /// kubelet's labels, when Kubernetes created it.
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
}

/// The parts of `GET /images/{id}/json` used.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImageJson {
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
}

/// The container `id`'s name and image from the runtime at `socket`;
/// `None` when the runtime does not know it (another runtime's container).
pub(crate) async fn inspect(socket: &Path, id: &str) -> Result<Option<ContainerInfo>, ApiError> {
    if !is_path_safe(id) {
        return Ok(None);
    }
    let path = format!("/containers/{id}/json");
    let Some(container) = get_json::<ContainerJson>(socket, &path).await? else {
        return Ok(None);
    };
    // As Tracee: Docker's names start with '/', and the image is the one
    // the container was created from unless the image has a tag to name it.
    let (image, labels) = container
        .config
        .map(|c| (c.image, c.labels.unwrap_or_default()))
        .unwrap_or_default();
    let sandbox = labels
        .get(DOCKER_TYPE_LABEL)
        .is_some_and(|kind| kind == "sandbox");
    let mut info = ContainerInfo {
        name: container.name.trim_start_matches('/').to_owned(),
        image,
        image_digest: String::new(),
        pod: PodInfo::from_labels(&labels, sandbox),
    };
    // Tracee too keeps the configured image when the image lookup fails.
    let image = if is_path_safe(&container.image) {
        let path = format!("/images/{}/json", container.image);
        get_json::<ImageJson>(socket, &path).await.ok().flatten()
    } else {
        None
    };
    if let Some(image) = image
        && let Some(tag) = image.repo_tags.and_then(|t| t.into_iter().next())
    {
        info.image = tag;
        info.image_digest = image
            .repo_digests
            .and_then(|d| d.into_iter().next())
            .unwrap_or_default();
    }
    Ok(Some(info))
}
