//! The HTTP listener: `GET /metrics` (Prometheus text format) and `GET
//! /healthz` (200 or 503 with the reason), on its own thread and runtime.
//!
//! Anyone who can reach the port may connect, so what a client can hold is
//! bounded: at most [`MAX_CONNECTIONS`] at once (more are closed at once
//! and counted), [`HEADER_READ_TIMEOUT`] to send a request head (also the
//! idle limit between keep-alive requests), [`CONNECTION_LIFETIME`] in all,
//! a head of at most [`MAX_HEAD_BYTES`], and no request body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use super::metrics::Metrics;

/// Connections served at once: far below the daemon's descriptor limit,
/// so scans, outputs and BPF always have descriptors left.
pub const MAX_CONNECTIONS: usize = 64;

/// Time a client has to send a request head, counted from the connection
/// or the previous response.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a connection stays open, busy or not.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// The largest request head read (hyper's minimum read buffer).
pub const MAX_HEAD_BYTES: usize = 8192;

/// Binds `address` and serves `metrics` until the process exits. Call it
/// after privileges are dropped: the thread it starts then has none.
///
/// # Errors
/// The address cannot be bound (the message names it and `--listen`), or
/// the thread cannot start.
pub fn spawn(address: SocketAddr, metrics: Metrics) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(address).with_context(|| {
        format!("cannot listen on {address} for /metrics and /healthz (change it with --listen ADDR, or --listen off)")
    })?;
    let bound = listener.local_addr().context("reading the bound address")?;
    listener
        .set_nonblocking(true)
        .context("making the listener non-blocking")?;
    std::thread::Builder::new()
        .name("sigbox-http".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(
                        "/metrics and /healthz unavailable: cannot start their runtime: {error}"
                    );
                    return;
                }
            };
            runtime.block_on(serve(listener, metrics));
        })
        .context("cannot start the metrics thread")?;
    Ok(bound)
}

async fn serve(listener: std::net::TcpListener, metrics: Metrics) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("/metrics and /healthz unavailable: {error}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!("accepting a metrics connection: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over the cap: closed at once (dropped), so it holds no descriptor.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.count_refused_connection();
            continue;
        };
        let metrics = metrics.clone();
        let connection = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |request| answer(request, metrics.clone())),
        );
        tokio::spawn(async move {
            // A client that goes away mid-request, or is too slow, is its
            // own business: the connection is closed either way.
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(slot);
        });
    }
}

/// Whether `request` carries a body (none is read: only GET is served).
fn has_body(request: &Request<Incoming>) -> bool {
    use hyper::body::Body;
    request.body().size_hint().upper() != Some(0)
}

async fn answer(
    request: Request<Incoming>,
    metrics: Metrics,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_str(content_type)
                .unwrap_or(hyper::header::HeaderValue::from_static("text/plain")),
        );
        response
    };
    if request.method() != Method::GET {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        ));
    }
    if has_body(&request) {
        // Unread, so hyper closes the connection after this answer.
        return Ok(reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain",
            "a GET takes no body\n".into(),
        ));
    }
    Ok(match request.uri().path() {
        "/metrics" => match metrics.encode() {
            Ok(text) => reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(_) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                "cannot encode metrics\n".into(),
            ),
        },
        "/healthz" => match metrics.health() {
            Ok(summary) => reply(StatusCode::OK, "text/plain", format!("{summary}\n")),
            Err(reason) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("unhealthy: {reason}\n"),
            ),
        },
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /healthz\n".into(),
        ),
    })
}
