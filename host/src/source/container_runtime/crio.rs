//! CRI-O's inspect endpoint: besides its gRPC CRI service, CRI-O's socket
//! answers plain HTTP `GET /containers/{id}` (what `crio status containers`
//! asks), which gives what Tracee's CRI-O enricher reads from the CRI
//! `ContainerStatus` without a gRPC client.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::http::{ApiError, get_json, is_path_safe};
use crate::event::{ContainerInfo, PodInfo, kubernetes_labels};

/// CRI-O's annotation of a container's kind: `sandbox` for a pod's infra
/// container (what Tracee reads from the CRI's annotations).
const CONTAINER_TYPE_ANNOTATION: &str = "io.kubernetes.cri-o.ContainerType";

/// The parts of CRI-O's `ContainerInfo` used.
#[derive(Deserialize)]
struct ContainerJson {
    /// CRI-O's own name (`k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`).
    #[serde(default)]
    name: String,
    /// The image's name as the container was created from it.
    #[serde(default)]
    image: String,
    /// The image's reference in CRI-O's storage.
    #[serde(default)]
    image_ref: String,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
    #[serde(default)]
    annotations: Option<HashMap<String, String>>,
    #[serde(default)]
    crio_annotations: Option<HashMap<String, String>>,
}

/// The container `id`'s name and image from CRI-O at `socket`; `None` when
/// CRI-O does not know it.
pub(crate) async fn inspect(socket: &Path, id: &str) -> Result<Option<ContainerInfo>, ApiError> {
    if !is_path_safe(id) {
        return Ok(None);
    }
    let path = format!("/containers/{id}");
    let Some(container) = get_json::<ContainerJson>(socket, &path).await? else {
        return Ok(None);
    };
    let labels = container.labels.unwrap_or_default();
    let sandbox = [&container.annotations, &container.crio_annotations]
        .into_iter()
        .flatten()
        .any(|notes| {
            notes
                .get(CONTAINER_TYPE_ANNOTATION)
                .is_some_and(|t| t == "sandbox")
        });
    // kubelet's label holds the name in the pod, the CRI's
    // `metadata.name` that Tracee prints.
    let kubernetes_name = labels
        .get(kubernetes_labels::CONTAINER_NAME)
        .filter(|name| !name.is_empty())
        .cloned();
    Ok(Some(ContainerInfo {
        name: kubernetes_name.unwrap_or(container.name),
        image: container.image,
        image_digest: container.image_ref,
        pod: PodInfo::from_labels(&labels, sandbox),
    }))
}
