//! Findings POSTed to an HTTP endpoint as JSON arrays, in batches, from a
//! thread of their own behind a bounded queue: a slow or failing receiver
//! never holds up event collection; what cannot be queued or delivered is
//! counted and logged.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::fanout::LineOutput;
use crate::telemetry::OutputCounters;

/// Where and how findings are posted.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// The endpoint (`http://` or `https://`).
    pub url: String,
    /// Records per POST at most.
    pub batch: usize,
    /// Records queued at most; more are dropped (counted).
    pub queue: usize,
    /// Time one POST may take.
    pub timeout: Duration,
    /// Retries of a POST that failed with a 5xx, a redirect, a timeout or no
    /// connection.
    pub retries: u32,
}

/// The webhook output: the queue's sending end.
pub(crate) struct Webhook {
    queue: Sender<Vec<u8>>,
    counters: Arc<OutputCounters>,
    url: String,
    queue_len: usize,
}

impl Webhook {
    /// Starts the delivery thread.
    ///
    /// # Errors
    /// The URL is not http(s), or the client or thread cannot be created.
    pub(crate) fn start(
        options: WebhookOptions,
        counters: Arc<OutputCounters>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            options.url.starts_with("http://") || options.url.starts_with("https://"),
            "--webhook {}: only http:// and https:// URLs",
            options.url
        );
        // Never follow a redirect: a 301/302/303 turns the POST into a
        // body-less GET (findings gone, yet answered 2xx), and a 307/308
        // re-posts findings to whatever host the receiver names.
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot create the webhook's HTTP client")?;
        let (queue, pending) = crossbeam_channel::bounded(options.queue.max(1));
        let url = options.url.clone();
        let queue_len = options.queue;
        let delivery_counters = counters.clone();
        std::thread::Builder::new()
            .name("sigbox-webhook".into())
            .spawn(move || deliver_forever(&client, &options, &pending, &delivery_counters))
            .context("cannot start the webhook thread")?;
        Ok(Self {
            queue,
            counters,
            url,
            queue_len,
        })
    }
}

impl LineOutput for Webhook {
    fn line(&mut self, line: &[u8]) {
        match self.queue.try_send(line.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = self
                    .counters
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // The first drop, then one line per 1000.
                if dropped.is_multiple_of(1000) {
                    tracing::error!(
                        "webhook {}: its queue of {} records is full (the receiver is slow or \
                         failing): dropped {} records so far (sigbox_output_dropped_total{{output=\"webhook\"}}; \
                         raise --webhook-queue)",
                        self.url,
                        self.queue_len,
                        dropped + 1
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                OutputCounters::add(&self.counters.dropped, 1);
            }
        }
    }
}

fn deliver_forever(
    client: &reqwest::Client,
    options: &WebhookOptions,
    pending: &Receiver<Vec<u8>>,
    counters: &OutputCounters,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("webhook disabled: cannot start its runtime: {error}");
            return;
        }
    };
    while let Ok(first) = pending.recv() {
        let mut batch = vec![first];
        while batch.len() < options.batch.max(1) {
            match pending.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        let body = json_array(&batch);
        match runtime.block_on(post_with_retries(client, options, body, counters)) {
            Ok(()) => OutputCounters::add(&counters.sent, n),
            Err(reason) => {
                OutputCounters::add(&counters.dropped, n);
                tracing::error!(
                    "webhook {}: dropped a batch of {n} records: {reason}",
                    options.url
                );
            }
        }
    }
}

/// POSTs `body`, retrying a 5xx or 3xx answer, a timeout or a failed
/// connection with a doubling pause (250 ms first).
async fn post_with_retries(
    client: &reqwest::Client,
    options: &WebhookOptions,
    body: Vec<u8>,
    counters: &OutputCounters,
) -> Result<(), String> {
    let mut pause = Duration::from_millis(250);
    let mut attempt = 0;
    loop {
        let answer = client
            .post(&options.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let failure = match answer {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) if response.status().is_server_error() => {
                format!("the receiver answered {}", response.status())
            }
            Ok(response) if response.status().is_redirection() => {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .map(|l| crate::printable(&String::from_utf8_lossy(l.as_bytes())).into_owned());
                format!(
                    "the receiver answered {} redirecting to {} (redirects are not followed: set --webhook to the final URL)",
                    response.status(),
                    location
                        .as_deref()
                        .unwrap_or("nowhere (no Location header)")
                )
            }
            Ok(response) => {
                return Err(format!(
                    "the receiver answered {} (not retried)",
                    response.status()
                ));
            }
            Err(error) if error.is_timeout() => {
                format!("no answer within {:?}", options.timeout)
            }
            Err(error) => format!("{error}"),
        };
        if attempt >= options.retries {
            return Err(format!("{failure}, after {} retries", options.retries));
        }
        attempt += 1;
        OutputCounters::add(&counters.retries, 1);
        tracing::warn!(
            "webhook {}: {failure}; retry {attempt} of {} in {pause:?}",
            options.url,
            options.retries
        );
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
}

/// `[line,line,…]`: JSON lines as they are; other lines (text output) as
/// JSON strings.
fn json_array(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        if line.first() == Some(&b'{') {
            body.extend_from_slice(line);
        } else {
            let text = String::from_utf8_lossy(line);
            body.extend_from_slice(
                serde_json::Value::from(text.as_ref())
                    .to_string()
                    .as_bytes(),
            );
        }
    }
    body.push(b']');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_json_arrays() {
        let body = json_array(&[b"{\"a\":1}".to_vec(), b"text \"line\"".to_vec()]);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed, serde_json::json!([{"a": 1}, "text \"line\""]));
    }
}
