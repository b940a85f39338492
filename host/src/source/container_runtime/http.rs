//! One `GET` over a runtime's Unix socket, bounded in time and size: what
//! the Docker Engine API and CRI-O's inspect endpoint both answer; and the
//! errors every runtime API shares.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::StatusCode;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

/// How long one request may take, connection included: a hung runtime
/// delays only the lookups queued behind it.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read (an inspect with many labels is a few tens of KiB).
pub(crate) const MAX_BODY_BYTES: usize = 4 << 20;

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
    /// A gRPC call failed (containerd).
    #[error("{method} failed: gRPC status {code}: {message}")]
    Grpc {
        /// The call.
        method: String,
        /// gRPC's status code.
        code: u32,
        /// The server's message.
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("unexpected answer to {0}: {1}")]
    Json(String, #[source] serde_json::Error),
    /// No answer in time.
    #[error("no answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
}

/// Ids go into a URL path: only the characters runtimes use in them.
pub(crate) fn is_path_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'))
}

/// The JSON answer to `GET path`; `None` on 404 (the runtime does not know it).
pub(crate) async fn get_json<T: DeserializeOwned>(
    socket: &Path,
    path: &str,
) -> Result<Option<T>, ApiError> {
    let body = tokio::time::timeout(REQUEST_TIMEOUT, get(socket, path))
        .await
        .map_err(|_| ApiError::Timeout)??;
    body.map(|body| serde_json::from_slice(&body).map_err(|e| ApiError::Json(path.to_owned(), e)))
        .transpose()
}

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
