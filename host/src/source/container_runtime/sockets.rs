//! Which runtime sockets to ask and what API each speaks: the ones
//! `--container-runtime-socket [RUNTIME:]PATH` names, else the usual paths
//! that exist (Tracee's autodiscovery).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The API a runtime's socket answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeApi {
    /// The Docker Engine API: Docker, and `podman system service`.
    Docker,
    /// CRI-O's HTTP inspect endpoint.
    Crio,
    /// containerd's gRPC API.
    Containerd,
}

impl fmt::Display for RuntimeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Docker => "Docker API",
            Self::Crio => "CRI-O",
            Self::Containerd => "containerd",
        })
    }
}

/// A runtime socket to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSocketPath {
    /// What it speaks.
    pub api: RuntimeApi,
    /// Where it is.
    pub path: PathBuf,
}

/// Sockets probed when none is given: Tracee's defaults, under `/run`
/// (which `/var/run` links to on the host, and which a container image may
/// have alone). Docker's containers are in containerd too (namespace
/// `moby`), but nameless there: Docker's own socket is preferred.
const PROBED: [(RuntimeApi, &str); 4] = [
    (RuntimeApi::Docker, "/run/docker.sock"),
    (RuntimeApi::Docker, "/run/podman/podman.sock"),
    (RuntimeApi::Crio, "/run/crio/crio.sock"),
    (RuntimeApi::Containerd, "/run/containerd/containerd.sock"),
];

/// Whether `path` is a Unix socket (a mount point Kubernetes created for
/// a socket the node lacks is an empty directory).
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

impl FromStr for RuntimeSocketPath {
    type Err = String;

    /// `PATH` (a Docker-API socket), or `RUNTIME:PATH` with RUNTIME one of
    /// `docker`, `podman`, `crio` (`cri-o`), `containerd`; a `unix://` before the path
    /// is allowed, as Tracee allows it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (api, path) = match text.split_once(':') {
            Some(("docker" | "podman", path)) => (RuntimeApi::Docker, path),
            Some(("crio" | "cri-o", path)) => (RuntimeApi::Crio, path),
            Some(("containerd", path)) => (RuntimeApi::Containerd, path),
            Some(("unix", _)) | None => (RuntimeApi::Docker, text),
            Some((runtime, _)) if !runtime.contains('/') => {
                return Err(format!(
                    "unknown runtime {runtime:?}: one of docker, podman, crio, containerd (or a path alone \
                     for a Docker-API socket)"
                ));
            }
            Some(_) => (RuntimeApi::Docker, text),
        };
        let path = path.strip_prefix("unix://").unwrap_or(path);
        if path.is_empty() {
            return Err("the socket's path is empty".into());
        }
        Ok(Self {
            api,
            path: PathBuf::from(path),
        })
    }
}

/// The sockets to ask: `given` (a missing one is logged now, once, and
/// marked failing), else the probed paths that exist.
pub(crate) fn choose(given: &[RuntimeSocketPath]) -> Vec<(RuntimeSocketPath, bool)> {
    if !given.is_empty() {
        return given
            .iter()
            .map(|socket| {
                let missing = !socket.path.exists();
                if missing {
                    tracing::warn!(
                        "container runtime socket {} ({}) does not exist \
                         (--container-runtime-socket); containers it runs get no name or image \
                         until it does",
                        socket.path.display(),
                        socket.api
                    );
                }
                (socket.clone(), missing)
            })
            .collect();
    }
    let found: Vec<(RuntimeSocketPath, bool)> = PROBED
        .iter()
        .filter(|(_, path)| is_socket(Path::new(path)))
        .map(|&(api, path)| {
            tracing::info!("asking {api} at {path} for container names and images");
            let socket = RuntimeSocketPath {
                api,
                path: path.into(),
            };
            (socket, false)
        })
        .collect();
    if found.is_empty() {
        let paths: Vec<&str> = PROBED.iter().map(|(_, path)| *path).collect();
        tracing::info!(
            "no container runtime socket at {}: containers get their id only \
             (--container-runtime-socket [RUNTIME:]PATH names one)",
            paths.join(", ")
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeSocketPath, String> {
        text.parse()
    }

    #[test]
    fn a_socket_is_a_path_or_runtime_and_path() {
        let socket = |api, path: &str| {
            Ok(RuntimeSocketPath {
                api,
                path: path.into(),
            })
        };
        assert_eq!(
            parse("/run/podman/podman.sock"),
            socket(RuntimeApi::Docker, "/run/podman/podman.sock")
        );
        assert_eq!(
            parse("podman:/tmp/p.sock"),
            socket(RuntimeApi::Docker, "/tmp/p.sock")
        );
        assert_eq!(
            parse("crio:unix:///var/run/crio/crio.sock"),
            socket(RuntimeApi::Crio, "/var/run/crio/crio.sock")
        );
        assert_eq!(
            parse("unix:///var/run/docker.sock"),
            socket(RuntimeApi::Docker, "/var/run/docker.sock")
        );
        assert_eq!(
            parse("./dir:with/colon.sock"),
            socket(RuntimeApi::Docker, "./dir:with/colon.sock")
        );
        assert_eq!(
            parse("containerd:unix:///run/containerd/containerd.sock"),
            socket(RuntimeApi::Containerd, "/run/containerd/containerd.sock")
        );
        assert!(parse("rkt:/x.sock").is_err());
        assert!(parse("crio:").is_err());
    }
}
