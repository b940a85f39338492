//! What the container runtime says about a container (Tracee's
//! `trace.Container` less the id, which the context holds on its own, and
//! `trace.Kubernetes`, from the labels kubelet puts on pod containers).

/// A container's name and image, as its runtime's API reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container's name (Docker's without its leading `/`).
    pub name: String,
    /// The image it runs, by name and tag when the runtime has one.
    pub image: String,
    /// The image's first repository digest (`repo@sha256:…`); empty when none.
    pub image_digest: String,
    /// Its pod, when Kubernetes created it; empty otherwise.
    pub pod: PodInfo,
}

/// The Kubernetes pod a container belongs to (Tracee's `trace.Kubernetes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    /// `io.kubernetes.pod.name`.
    pub name: String,
    /// `io.kubernetes.pod.namespace`.
    pub namespace: String,
    /// `io.kubernetes.pod.uid`.
    pub uid: String,
    /// Whether the container is the pod's sandbox (its pause container).
    pub sandbox: bool,
}

/// The labels kubelet puts on the containers it creates (Tracee's
/// `pkg/datastores/container/runtime/runtime.go`).
pub mod labels {
    /// The pod's name.
    pub const POD_NAME: &str = "io.kubernetes.pod.name";
    /// The pod's namespace.
    pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
    /// The pod's uid.
    pub const POD_UID: &str = "io.kubernetes.pod.uid";
    /// The container's name in the pod.
    pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
}

impl PodInfo {
    /// The pod a container's labels name (empty fields where a label is
    /// missing); `sandbox` as the runtime tells it.
    pub fn from_labels(labels: &std::collections::HashMap<String, String>, sandbox: bool) -> Self {
        let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
        Self {
            name: label(labels::POD_NAME),
            namespace: label(labels::POD_NAMESPACE),
            uid: label(labels::POD_UID),
            sandbox,
        }
    }
}
