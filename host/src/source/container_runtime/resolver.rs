//! The background thread that asks the runtimes: ids come in on a channel,
//! answers go back on another, so the event path never waits for a socket.
//! Each socket's failures are logged once until it answers again.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::http::ApiError;
use super::sockets::{RuntimeApi, RuntimeSocketPath};
use super::{crio, docker_api};
use crate::event::ContainerInfo;

/// What the options that change the sockets are, for log lines.
const SOCKET_HINT: &str = "--container-runtime-socket [RUNTIME:]PATH chooses the sockets, \
                           --no-container-lookup turns lookups off";

/// One lookup's answer: the info, or `None` when no runtime knew the id or
/// every runtime failed.
pub(crate) type Answer = (String, Option<Arc<ContainerInfo>>);

/// A runtime's socket and whether its failure was already logged.
#[derive(Debug)]
pub(crate) struct RuntimeSocket {
    socket: RuntimeSocketPath,
    failing: bool,
}

impl RuntimeSocket {
    pub(crate) fn new(socket: RuntimeSocketPath) -> Self {
        Self {
            socket,
            failing: false,
        }
    }

    /// What the socket's runtime says of `id`.
    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>, ApiError> {
        let path = &self.socket.path;
        match self.socket.api {
            RuntimeApi::Docker => docker_api::inspect(path, id).await,
            RuntimeApi::Crio => crio::inspect(path, id).await,
        }
    }

    /// A socket already known to fail (its failure was logged).
    pub(crate) fn failing(self) -> Self {
        Self {
            failing: true,
            ..self
        }
    }

    /// Records a failure; true only for the first since the socket last
    /// answered (the one to log).
    fn failed(&mut self) -> bool {
        !std::mem::replace(&mut self.failing, true)
    }

    /// Records an answer; true when it had been failing (to log the recovery).
    fn answered(&mut self) -> bool {
        std::mem::replace(&mut self.failing, false)
    }
}

/// Asks each socket in turn for a container.
pub(crate) struct Resolver {
    sockets: Vec<RuntimeSocket>,
}

impl Resolver {
    pub(crate) fn new(sockets: Vec<RuntimeSocket>) -> Self {
        Self { sockets }
    }

    /// The first runtime's answer that knows `id`.
    pub(crate) async fn resolve(&mut self, id: &str) -> Option<ContainerInfo> {
        for socket in &mut self.sockets {
            match socket.inspect(id).await {
                Ok(found) => {
                    if socket.answered() {
                        tracing::info!(
                            "container runtime socket {} ({}) answers again",
                            socket.socket.path.display(),
                            socket.socket.api
                        );
                    }
                    if found.is_some() {
                        return found;
                    }
                }
                Err(error) => {
                    if socket.failed() {
                        log_failure(&socket.socket, &error);
                    }
                }
            }
        }
        None
    }

    /// Answers ids from `requests` on `answers` until the requests' sender
    /// is dropped.
    pub(crate) fn serve(mut self, requests: &Receiver<String>, answers: &Sender<Answer>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!("container lookups are off: cannot start their runtime: {error}");
                return;
            }
        };
        while let Ok(id) = requests.recv() {
            let info = runtime.block_on(self.resolve(&id)).map(Arc::new);
            if answers.send((id.clone(), info.clone())).is_err() {
                return;
            }
            // Logged once sent: from this line on, the event path has it.
            match info {
                Some(info) => tracing::info!(
                    container = %id,
                    name = %info.name,
                    image = %info.image,
                    "container resolved"
                ),
                None => tracing::debug!(container = %id, "no runtime knows the container"),
            }
        }
    }
}

fn log_failure(socket: &RuntimeSocketPath, error: &ApiError) {
    tracing::warn!(
        "container runtime socket {} ({}): {error}; containers it runs get no name or image \
         until it answers ({SOCKET_HINT})",
        socket.path.display(),
        socket.api
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(path: &str) -> RuntimeSocketPath {
        RuntimeSocketPath {
            api: RuntimeApi::Docker,
            path: path.into(),
        }
    }

    #[test]
    fn a_failing_socket_is_logged_once_until_it_answers() {
        let mut socket = RuntimeSocket::new(docker("/nonexistent/docker.sock"));
        assert!(socket.failed(), "the first failure is logged");
        assert!(!socket.failed(), "the next ones are not");
        assert!(socket.answered(), "the recovery is logged");
        assert!(!socket.answered());
        assert!(socket.failed(), "a new outage is logged again");
    }

    #[test]
    fn a_missing_socket_resolves_nothing_and_is_marked_failing() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut resolver = Resolver::new(vec![RuntimeSocket::new(docker(
            "/nonexistent/sigbox-test/docker.sock",
        ))]);
        assert_eq!(runtime.block_on(resolver.resolve("abc")), None);
        assert!(resolver.sockets[0].failing);
    }
}
