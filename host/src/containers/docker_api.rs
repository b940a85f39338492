//! The Docker Engine API over a Unix socket (Docker's, and Podman's
//! Docker-compatible service): what Tracee's Docker enricher asks,
//! `GET /containers/{id}/json`, then `GET /images/{image}/json` for the
//! image's tag and digest.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::StatusCode;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::UnixStream;

use crate::event::ContainerInfo;

/// How long one request may take, connection included: a hung runtime
/// delays only the lookups queued behind it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read (an inspect with many labels is a few tens of KiB).
const MAX_BODY_BYTES: usize = 4 << 20;

/// Why a runtime gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The socket could not be connected to (missing, refused, no permission).
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The runtime answered with an error status.
    #[error("answered {0} to {1}")]
    Status(StatusCode, String),
    /// The answer was not the JSON expected.
    #[error("unexpected answer to {0}: {1}")]
    Json(String, #[source] serde_json::Error),
    /// No answer in time.
    #[error("no answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
}

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
    tokio::time::timeout(REQUEST_TIMEOUT, inspect_now(socket, id))
        .await
        .map_err(|_| ApiError::Timeout)?
}

async fn inspect_now(socket: &Path, id: &str) -> Result<Option<ContainerInfo>, ApiError> {
    if !is_path_safe(id) {
        return Ok(None);
    }
    let path = format!("/containers/{id}/json");
    let Some(body) = get(socket, &path).await? else {
        return Ok(None);
    };
    let container: ContainerJson =
        serde_json::from_slice(&body).map_err(|e| ApiError::Json(path, e))?;
    // As Tracee: Docker's names start with '/', and the image is the one
    // the container was created from unless the image has a tag to name it.
    let mut info = ContainerInfo {
        name: container.name.trim_start_matches('/').to_owned(),
        image: container.config.map(|c| c.image).unwrap_or_default(),
        image_digest: String::new(),
    };
    // Tracee too keeps the configured image when the image lookup fails.
    let image = if is_path_safe(&container.image) {
        image(socket, &container.image).await.ok().flatten()
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

async fn image(socket: &Path, id: &str) -> Result<Option<ImageJson>, ApiError> {
    let path = format!("/images/{id}/json");
    let Some(body) = get(socket, &path).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| ApiError::Json(path, e))
}

/// Ids go into a URL path: only the characters runtimes use in them.
fn is_path_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'))
}

/// The body of `GET path`; `None` on 404.
async fn get(socket: &Path, path: &str) -> Result<Option<Bytes>, ApiError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(ApiError::Connect)?;
    let http = |e: hyper::Error| ApiError::Http(e.to_string());
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(http)?;
    // Drives the connection; it ends when `sender` is dropped.
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, "localhost")
        .body(Empty::<Bytes>::new())
        .map_err(|e| ApiError::Http(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(ApiError::Status(status, path.to_owned()));
    }
    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| ApiError::Http(e.to_string()))?;
    Ok(Some(body.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_go_into_a_path() {
        assert!(is_path_safe("3f2a9c"));
        assert!(is_path_safe("sha256:3f2a9c"));
        for bad in ["", "../../info", "a/b", "a?b", "a b", "a%2f"] {
            assert!(!is_path_safe(bad), "{bad:?}");
        }
    }
}
