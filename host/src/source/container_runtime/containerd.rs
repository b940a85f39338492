//! containerd's gRPC API, asked as Tracee's containerd enricher asks it
//! (`pkg/datastores/container/runtime/containerd.go`): list the
//! namespaces, get the container in each until one has it (Kubernetes'
//! are in `k8s.io`, Docker's in `moby`, `ctr`'s in `default`), then its
//! image from the image store, or from the CRI image service when the store
//! does not know it. A container's name is kubelet's label (containerd's
//! containers have none of their own), its pod from kubelet's labels.
//!
//! The messages are declared here, only the fields read (protobuf skips
//! the others), with the tags of containerd's and the CRI's `.proto` files.

use std::collections::HashMap;
use std::path::Path;

use super::grpc::Channel;
use super::http::ApiError;
use crate::event::{ContainerInfo, PodInfo, kubernetes_labels};

/// The header naming the namespace a call is for.
const NAMESPACE_HEADER: &str = "containerd-namespace";
/// The label containerd's CRI plugin puts on a pod's sandbox container.
const KIND_LABEL: &str = "io.cri-containerd.kind";

const LIST_NAMESPACES: &str = "/containerd.services.namespaces.v1.Namespaces/List";
const GET_CONTAINER: &str = "/containerd.services.containers.v1.Containers/Get";
const GET_IMAGE: &str = "/containerd.services.images.v1.Images/Get";
const CRI_IMAGE_STATUS: &str = "/runtime.v1.ImageService/ImageStatus";

/// `containerd.services.namespaces.v1.ListNamespacesRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct ListNamespacesRequest {
    #[prost(string, tag = "1")]
    filter: String,
}

/// `ListNamespacesResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct ListNamespacesResponse {
    #[prost(message, repeated, tag = "1")]
    namespaces: Vec<Namespace>,
}

/// `containerd.services.namespaces.v1.Namespace`.
#[derive(Clone, PartialEq, prost::Message)]
struct Namespace {
    #[prost(string, tag = "1")]
    name: String,
}

/// `containerd.services.containers.v1.GetContainerRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct GetContainerRequest {
    #[prost(string, tag = "1")]
    id: String,
}

/// `GetContainerResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct GetContainerResponse {
    #[prost(message, optional, tag = "1")]
    container: Option<Container>,
}

/// `containerd.services.containers.v1.Container`.
#[derive(Clone, PartialEq, prost::Message)]
struct Container {
    #[prost(map = "string, string", tag = "2")]
    labels: HashMap<String, String>,
    /// The image reference the container was created from.
    #[prost(string, tag = "3")]
    image: String,
}

/// `containerd.services.images.v1.GetImageRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct GetImageRequest {
    #[prost(string, tag = "1")]
    name: String,
}

/// `GetImageResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct GetImageResponse {
    #[prost(message, optional, tag = "1")]
    image: Option<Image>,
}

/// `containerd.services.images.v1.Image`.
#[derive(Clone, PartialEq, prost::Message)]
struct Image {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "3")]
    target: Option<Descriptor>,
}

/// `containerd.types.Descriptor`.
#[derive(Clone, PartialEq, prost::Message)]
struct Descriptor {
    #[prost(string, tag = "2")]
    digest: String,
}

/// `runtime.v1.ImageStatusRequest` (the CRI).
#[derive(Clone, PartialEq, prost::Message)]
struct ImageStatusRequest {
    #[prost(message, optional, tag = "1")]
    image: Option<ImageSpec>,
}

/// `runtime.v1.ImageSpec`.
#[derive(Clone, PartialEq, prost::Message)]
struct ImageSpec {
    #[prost(string, tag = "1")]
    image: String,
    #[prost(string, tag = "18")]
    user_specified_image: String,
}

/// `runtime.v1.ImageStatusResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct ImageStatusResponse {
    #[prost(message, optional, tag = "1")]
    image: Option<CriImage>,
}

/// `runtime.v1.Image`.
#[derive(Clone, PartialEq, prost::Message)]
struct CriImage {
    #[prost(string, repeated, tag = "2")]
    repo_tags: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    repo_digests: Vec<String>,
}

/// The container `id`'s name, image and pod from containerd at `socket`;
/// `None` when no namespace has it.
pub(crate) async fn inspect(socket: &Path, id: &str) -> Result<Option<ContainerInfo>, ApiError> {
    let mut channel = Channel::connect(socket).await?;
    let namespaces: ListNamespacesResponse = channel
        .call(LIST_NAMESPACES, &[], &ListNamespacesRequest::default())
        .await?
        .unwrap_or_default();
    for namespace in namespaces.namespaces {
        let scope = [(NAMESPACE_HEADER, namespace.name.as_str())];
        let request = GetContainerRequest { id: id.to_owned() };
        let found: Option<GetContainerResponse> =
            channel.call(GET_CONTAINER, &scope, &request).await?;
        let Some(container) = found.and_then(|found| found.container) else {
            continue;
        };
        let (image, image_digest) = image_info(&mut channel, &scope, &container.image).await;
        return Ok(Some(container_info(&container.labels, image, image_digest)));
    }
    Ok(None)
}

/// The image's name and digest: the store's name and target digest, else
/// the CRI's first tag and repository digest, else (as Tracee) the
/// container's reference for both.
async fn image_info(
    channel: &mut Channel,
    scope: &[(&'static str, &str)],
    reference: &str,
) -> (String, String) {
    let request = GetImageRequest {
        name: reference.to_owned(),
    };
    let stored: Result<Option<GetImageResponse>, _> =
        channel.call(GET_IMAGE, scope, &request).await;
    if let Ok(Some(GetImageResponse { image: Some(image) })) = stored {
        let digest = image.target.map(|t| t.digest).unwrap_or_default();
        return (image.name, digest);
    }
    // An image id (`sha256:…`) is asked by id, a name as the user gave it.
    let spec = match reference.strip_prefix("sha256:") {
        Some(id) => ImageSpec {
            image: id.to_owned(),
            ..ImageSpec::default()
        },
        None => ImageSpec {
            user_specified_image: reference.to_owned(),
            ..ImageSpec::default()
        },
    };
    let request = ImageStatusRequest { image: Some(spec) };
    let cri: Result<Option<ImageStatusResponse>, _> =
        channel.call(CRI_IMAGE_STATUS, scope, &request).await;
    match cri {
        Ok(Some(ImageStatusResponse { image: Some(image) })) => (
            image.repo_tags.into_iter().next().unwrap_or_default(),
            image.repo_digests.into_iter().next().unwrap_or_default(),
        ),
        _ => (reference.to_owned(), reference.to_owned()),
    }
}

/// What a container's labels say, with its image.
fn container_info(
    labels: &HashMap<String, String>,
    image: String,
    image_digest: String,
) -> ContainerInfo {
    let sandbox = labels.get(KIND_LABEL).is_some_and(|kind| kind == "sandbox");
    ContainerInfo {
        name: labels
            .get(kubernetes_labels::CONTAINER_NAME)
            .cloned()
            .unwrap_or_default(),
        image,
        image_digest,
        pod: PodInfo::from_labels(labels, sandbox),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pods_container_is_named_by_kubelets_labels() {
        let labels: HashMap<String, String> = [
            ("io.kubernetes.container.name", "web"),
            ("io.kubernetes.pod.name", "web-7d9f"),
            ("io.kubernetes.pod.namespace", "shop"),
            ("io.kubernetes.pod.uid", "1c2d"),
            ("io.cri-containerd.kind", "container"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let info = container_info(&labels, "nginx:1.27".into(), "sha256:ab".into());
        assert_eq!(info.name, "web");
        assert_eq!(
            info.pod,
            PodInfo {
                name: "web-7d9f".into(),
                namespace: "shop".into(),
                uid: "1c2d".into(),
                sandbox: false,
            }
        );
        let mut sandbox = labels.clone();
        sandbox.insert(KIND_LABEL.into(), "sandbox".into());
        assert!(
            container_info(&sandbox, String::new(), String::new())
                .pod
                .sandbox
        );
        let plain = container_info(&HashMap::new(), "img".into(), String::new());
        assert_eq!(plain.name, "", "containerd's containers have no name");
        assert_eq!(plain.pod, PodInfo::default());
    }
}
