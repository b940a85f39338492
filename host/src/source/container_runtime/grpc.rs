//! Unary gRPC calls over a runtime's Unix socket: HTTP/2 (hyper) carrying
//! protobuf messages (prost), which is all containerd's API needs. One
//! connection serves a lookup's few calls.

use std::path::Path;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http2;
use hyper::{HeaderMap, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::UnixStream;

use super::http::{ApiError, MAX_BODY_BYTES};

/// gRPC's status for "no such object" (`codes.NotFound`).
const NOT_FOUND: u32 = 5;
/// The bytes before each message: a compression flag and a length.
const FRAME_HEADER_BYTES: usize = 5;

/// An HTTP/2 connection to a gRPC server.
pub(crate) struct Channel {
    sender: http2::SendRequest<Full<Bytes>>,
}

impl Channel {
    /// Connects to the server on `socket`.
    pub(crate) async fn connect(socket: &Path) -> Result<Self, ApiError> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(ApiError::Connect)?;
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| ApiError::Http(e.to_string()))?;
        // Drives the connection; it ends when `sender` is dropped.
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    /// Calls `method` (`/package.Service/Method`) with `request`, with the
    /// given extra headers (containerd's namespace); `None` when the server
    /// answers NotFound.
    pub(crate) async fn call<Q, A>(
        &mut self,
        method: &str,
        headers: &[(&'static str, &str)],
        request: &Q,
    ) -> Result<Option<A>, ApiError>
    where
        Q: prost::Message,
        A: prost::Message + Default,
    {
        let mut body = BytesMut::with_capacity(FRAME_HEADER_BYTES + request.encoded_len());
        body.put_u8(0);
        body.put_u32(u32::try_from(request.encoded_len()).unwrap_or(u32::MAX));
        request
            .encode(&mut body)
            .map_err(|e| ApiError::Http(e.to_string()))?;
        let mut builder = hyper::Request::post(format!("http://localhost{method}"))
            .header(hyper::header::CONTENT_TYPE, "application/grpc")
            .header(hyper::header::TE, "trailers");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let http_request = builder
            .body(Full::new(body.freeze()))
            .map_err(|e| ApiError::Http(e.to_string()))?;
        self.sender
            .ready()
            .await
            .map_err(|e| ApiError::Http(e.to_string()))?;
        let response = self
            .sender
            .send_request(http_request)
            .await
            .map_err(|e| ApiError::Http(e.to_string()))?;
        if response.status() != StatusCode::OK {
            return Err(ApiError::Status(response.status(), method.to_owned()));
        }
        // An error comes without a body, its status in the headers.
        if let Some(status) = grpc_status(method, response.headers())? {
            return status.map(|()| None);
        }
        let collected = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| ApiError::Http(e.to_string()))?;
        if let Some(status) = collected
            .trailers()
            .map(|trailers| grpc_status(method, trailers))
            .transpose()?
            .flatten()
        {
            return status.map(|()| None);
        }
        decode_message(method, collected.to_bytes()).map(Some)
    }
}

/// The status in `headers`: `None` when they carry none, `Some(Ok(()))` for
/// NotFound, `Some(Err)` for any other failure; success is `None` too.
fn grpc_status(
    method: &str,
    headers: &HeaderMap,
) -> Result<Option<Result<(), ApiError>>, ApiError> {
    let Some(status) = headers.get("grpc-status") else {
        return Ok(None);
    };
    let code: u32 = status
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::Http(format!("{method}: bad grpc-status {status:?}")))?;
    Ok(match code {
        0 => None,
        NOT_FOUND => Some(Ok(())),
        code => {
            let message = headers
                .get("grpc-message")
                .and_then(|m| m.to_str().ok())
                .unwrap_or("")
                .to_owned();
            Some(Err(ApiError::Grpc {
                method: method.to_owned(),
                code,
                message,
            }))
        }
    })
}

/// The one message in a unary answer's body.
fn decode_message<A: prost::Message + Default>(
    method: &str,
    mut body: Bytes,
) -> Result<A, ApiError> {
    let bad = |what: &str| ApiError::Http(format!("{method}: {what}"));
    if body.len() < FRAME_HEADER_BYTES {
        return Err(bad("no message in the answer"));
    }
    let compressed = body.get_u8();
    let length = body.get_u32() as usize;
    if compressed != 0 {
        return Err(bad("a compressed message (none was accepted)"));
    }
    if body.len() < length {
        return Err(bad("a truncated message"));
    }
    A::decode(body.slice(..length)).map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Named {
        #[prost(string, tag = "1")]
        name: String,
    }

    fn framed(message: &Named) -> Bytes {
        let mut body = BytesMut::new();
        body.put_u8(0);
        body.put_u32(prost::Message::encoded_len(message) as u32);
        prost::Message::encode(message, &mut body).unwrap();
        body.freeze()
    }

    #[test]
    fn a_framed_message_decodes_and_a_bad_frame_is_an_error() {
        let message = Named {
            name: "k8s.io".into(),
        };
        let decoded: Named = decode_message("/m", framed(&message)).unwrap();
        assert_eq!(decoded, message);
        let whole = framed(&message);
        assert!(decode_message::<Named>("/m", whole.slice(..whole.len() - 1)).is_err());
        assert!(decode_message::<Named>("/m", Bytes::from_static(&[0, 0])).is_err());
        assert!(decode_message::<Named>("/m", Bytes::from_static(&[1, 0, 0, 0, 0])).is_err());
    }

    #[test]
    fn statuses_read_not_found_apart_from_failures() {
        let mut headers = HeaderMap::new();
        assert!(grpc_status("/m", &headers).unwrap().is_none());
        headers.insert("grpc-status", "0".parse().unwrap());
        assert!(grpc_status("/m", &headers).unwrap().is_none());
        headers.insert("grpc-status", "5".parse().unwrap());
        assert!(matches!(grpc_status("/m", &headers), Ok(Some(Ok(())))));
        headers.insert("grpc-status", "7".parse().unwrap());
        headers.insert("grpc-message", "permission denied".parse().unwrap());
        let failure = grpc_status("/m", &headers).unwrap().unwrap().unwrap_err();
        assert!(
            failure.to_string().contains("permission denied"),
            "{failure}"
        );
        headers.insert("grpc-status", "x".parse().unwrap());
        assert!(grpc_status("/m", &headers).is_err());
    }
}
