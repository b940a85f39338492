//! The background thread that asks the runtimes: ids come in on a channel,
//! answers go back on another, so the event path never waits for a socket.
//! The sockets are asked at once; the first in order that knows the id
//! answers, and a socket known to fail is not waited for when another
//! knows it. Each socket's failures are logged once until it answers again.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use tokio::task::JoinSet;

use super::http::{ApiError, REQUEST_TIMEOUT};
use super::sockets::{RuntimeApi, RuntimeSocketPath};
use super::{containerd, crio, docker_api};
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

/// What the runtime on `socket` says of `id`; a hung runtime gives up
/// after [`REQUEST_TIMEOUT`].
async fn inspect(socket: &RuntimeSocketPath, id: &str) -> Result<Option<ContainerInfo>, ApiError> {
    let path = &socket.path;
    let asked = async {
        match socket.api {
            RuntimeApi::Docker => docker_api::inspect(path, id).await,
            RuntimeApi::Crio => crio::inspect(path, id).await,
            RuntimeApi::Containerd => containerd::inspect(path, id).await,
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, asked)
        .await
        .unwrap_or(Err(ApiError::Timeout))
}

/// One socket's part in a lookup.
enum Asked {
    /// No answer yet.
    Pending,
    /// It answered (`None`: it does not know the id, or it failed).
    Answered(Option<ContainerInfo>),
}

/// Asks the sockets for a container.
pub(crate) struct Resolver {
    sockets: Vec<RuntimeSocket>,
}

impl Resolver {
    pub(crate) fn new(sockets: Vec<RuntimeSocket>) -> Self {
        Self { sockets }
    }

    /// The answer of the first socket in order that knows `id`, not
    /// waiting for a socket known to fail once another knows it.
    pub(crate) async fn resolve(&mut self, id: &str) -> Option<ContainerInfo> {
        let mut asked = JoinSet::new();
        for (index, socket) in self.sockets.iter().enumerate() {
            let (socket, id) = (socket.socket.clone(), id.to_owned());
            asked.spawn(async move { (index, inspect(&socket, &id).await) });
        }
        let mut answers: Vec<Asked> = self.sockets.iter().map(|_| Asked::Pending).collect();
        loop {
            if let Some(found) = self.decide(&mut answers) {
                return found;
            }
            // Dropping `asked` on return stops the sockets still asked.
            let Some(Ok((index, answer))) = asked.join_next().await else {
                return None;
            };
            answers[index] = Asked::Answered(self.record(index, answer));
        }
    }

    /// `Some` once the lookup is decided: the first answer in order that
    /// knows the id, past sockets that said no or are known to fail; `None`
    /// while a socket before it (or any socket, when none knows it yet) may
    /// still answer.
    fn decide(&self, answers: &mut [Asked]) -> Option<Option<ContainerInfo>> {
        let mut waiting = false;
        for (asked, socket) in answers.iter_mut().zip(&self.sockets) {
            match asked {
                Asked::Answered(found @ Some(_)) => return Some(found.take()),
                Asked::Answered(_) => {}
                Asked::Pending if socket.failing => waiting = true,
                Asked::Pending => return None,
            }
        }
        (!waiting).then_some(None)
    }

    /// Logs a socket's failure or recovery; what it found.
    fn record(
        &mut self,
        index: usize,
        answer: Result<Option<ContainerInfo>, ApiError>,
    ) -> Option<ContainerInfo> {
        let socket = &mut self.sockets[index];
        match answer {
            Ok(found) => {
                if socket.answered() {
                    tracing::info!(
                        "container runtime socket {} ({}) answers again",
                        socket.socket.path.display(),
                        socket.socket.api
                    );
                }
                found
            }
            Err(error) => {
                if socket.failed() {
                    log_failure(&socket.socket, &error);
                }
                None
            }
        }
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

    fn known(name: &str) -> Asked {
        Asked::Answered(Some(ContainerInfo {
            name: name.into(),
            ..ContainerInfo::default()
        }))
    }

    fn decided(resolver: &Resolver, mut answers: Vec<Asked>) -> Option<Option<String>> {
        resolver
            .decide(&mut answers)
            .map(|found| found.map(|info| info.name))
    }

    /// The first socket in order that knows the id answers; a healthy
    /// socket before it is waited for, one known to fail is not, unless no
    /// other socket knows the id.
    #[test]
    fn the_first_socket_that_knows_the_id_answers_without_waiting_for_failing_ones() {
        let resolver = Resolver::new(vec![
            RuntimeSocket::new(docker("/a.sock")),
            RuntimeSocket::new(docker("/b.sock")).failing(),
            RuntimeSocket::new(docker("/c.sock")),
        ]);
        use Asked::{Answered, Pending};
        assert_eq!(decided(&resolver, vec![Pending, Pending, known("c")]), None);
        assert_eq!(
            decided(&resolver, vec![known("a"), Pending, known("c")]),
            Some(Some("a".into()))
        );
        assert_eq!(
            decided(&resolver, vec![Answered(None), Pending, known("c")]),
            Some(Some("c".into())),
            "the failing socket is not waited for"
        );
        assert_eq!(
            decided(&resolver, vec![Answered(None), Pending, Answered(None)]),
            None,
            "no one else knows it: the failing socket may"
        );
        assert_eq!(
            decided(&resolver, vec![Answered(None), known("b"), Pending]),
            Some(Some("b".into()))
        );
        assert_eq!(
            decided(
                &resolver,
                vec![Answered(None), Answered(None), Answered(None)]
            ),
            Some(None)
        );
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
