//! What the container runtime says about a container (Tracee's
//! `trace.Container` less the id, which the context holds on its own).

/// A container's name and image, as its runtime's API reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container's name (Docker's without its leading `/`).
    pub name: String,
    /// The image it runs, by name and tag when the runtime has one.
    pub image: String,
    /// The image's first repository digest (`repo@sha256:…`); empty when none.
    pub image_digest: String,
}
