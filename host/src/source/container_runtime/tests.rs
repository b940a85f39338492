//! The lookups against fake runtime sockets (a thread answering canned
//! HTTP, as Docker's and CRI-O's Go servers do), and the event path with a
//! scripted resolver.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::*;
use crate::event::{ContainerInfo, Context, Kind, PodInfo};

const ID: &str = "3f2a9c00d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8";

/// A server on `dir/name` answering each `GET` target in `routes` with its
/// JSON body (the first chunked, as Go's server sends a long body), and 404
/// with a text body otherwise.
fn fake_runtime(dir: &Path, name: &str, routes: Vec<(String, &'static str)>) -> PathBuf {
    let path = dir.join(name);
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                    break;
                }
            }
            let target = request_line.split_whitespace().nth(1).unwrap_or("");
            let route = routes.iter().position(|(path, _)| path == target);
            let response = match route {
                Some(0) => {
                    let body = routes[0].1;
                    let (head, tail) = body.split_at(body.len() / 2);
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{head}\r\n{:x}\r\n{tail}\r\n0\r\n\r\n",
                        head.len(),
                        tail.len()
                    )
                }
                Some(n) => {
                    let body = routes[n].1;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                }
                None => {
                    let body = "can't find the container\n";
                    format!(
                        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                }
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    path
}

/// Answers like Docker: the container and its image.
fn fake_docker(dir: &Path) -> PathBuf {
    fake_runtime(
        dir,
        "docker.sock",
        vec![
            (
                format!("/containers/{ID}/json"),
                r#"{"Id":"3f2a","Name":"/web-1","Image":"sha256:77aa","Config":{"Image":"nginx","Labels":{"io.kubernetes.pod.name":"web-1-pod","io.kubernetes.pod.namespace":"shop","io.kubernetes.pod.uid":"9a8b","io.kubernetes.docker.type":"container"}}}"#,
            ),
            (
                "/images/sha256:77aa/json".into(),
                r#"{"RepoTags":["docker.io/library/nginx:1.27"],"RepoDigests":["docker.io/library/nginx@sha256:beef"]}"#,
            ),
        ],
    )
}

/// Answers like CRI-O's inspect endpoint: a pod's container (kubelet's
/// labels) and a container CRI-O ran without kubelet.
fn fake_crio(dir: &Path) -> PathBuf {
    fake_runtime(
        dir,
        "crio.sock",
        vec![
            (
                format!("/containers/{ID}"),
                r#"{"name":"k8s_web_web-7d9f_default_1c2d_0","pid":4242,"image":"docker.io/library/nginx:1.27","image_ref":"docker.io/library/nginx@sha256:beef","created_time":1,"labels":{"io.kubernetes.container.name":"web","io.kubernetes.pod.name":"web-7d9f","io.kubernetes.pod.namespace":"shop","io.kubernetes.pod.uid":"1c2d"},"annotations":{"io.kubernetes.cri-o.ContainerType":"container"},"crio_annotations":{},"log_path":"","root":"","sandbox":"5e6f","ip_addresses":["10.0.0.2"]}"#,
            ),
            (
                "/containers/5e6f".into(),
                r#"{"name":"k8s_POD_web-7d9f_shop_1c2d_0","image":"registry.k8s.io/pause:3.9","labels":{"io.kubernetes.pod.name":"web-7d9f"},"annotations":{"io.kubernetes.cri-o.ContainerType":"sandbox"}}"#,
            ),
            (
                "/containers/b0b".into(),
                r#"{"name":"plain","image":"localhost/tool:1","image_ref":"","labels":null}"#,
            ),
        ],
    )
}

fn socket(api: RuntimeApi, path: PathBuf) -> RuntimeSocket {
    RuntimeSocket::new(RuntimeSocketPath { api, path })
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sigbox-containers-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn the_resolver_reads_name_image_and_digest_as_tracee_does() {
    let dir = temp_dir();
    let docker = fake_docker(&dir);
    let missing = dir.join("missing.sock");
    let mut resolver = Resolver::new(vec![
        socket(RuntimeApi::Docker, missing),
        socket(RuntimeApi::Docker, docker),
    ]);
    let info = block_on(resolver.resolve(ID));
    assert_eq!(
        info,
        Some(ContainerInfo {
            name: "web-1".into(),
            image: "docker.io/library/nginx:1.27".into(),
            image_digest: "docker.io/library/nginx@sha256:beef".into(),
            pod: PodInfo {
                name: "web-1-pod".into(),
                namespace: "shop".into(),
                uid: "9a8b".into(),
                sandbox: false,
            },
        }),
        "the missing socket is skipped, the leading / dropped, the tag preferred"
    );
    assert_eq!(block_on(resolver.resolve("feed")), None, "404: not known");
    let _ = std::fs::remove_dir_all(dir);
}

/// CRI-O names a pod's container as the CRI does (kubelet's label, which
/// Tracee prints), and gives its image and image reference; a Docker-API
/// socket asked first that does not know the id is passed over.
#[test]
fn the_resolver_reads_cri_o_as_tracee_does() {
    let dir = temp_dir();
    let docker = fake_docker(&dir);
    let crio = fake_crio(&dir);
    let mut resolver = Resolver::new(vec![
        socket(RuntimeApi::Docker, docker),
        socket(RuntimeApi::Crio, crio),
    ]);
    assert_eq!(
        block_on(resolver.resolve("b0b")),
        Some(ContainerInfo {
            name: "plain".into(),
            image: "localhost/tool:1".into(),
            image_digest: String::new(),
            pod: PodInfo::default(),
        }),
        "no kubelet label: CRI-O's own name"
    );
    let mut crio_first = Resolver::new(vec![socket(RuntimeApi::Crio, dir.join("crio.sock"))]);
    assert_eq!(
        block_on(crio_first.resolve(ID)),
        Some(ContainerInfo {
            name: "web".into(),
            image: "docker.io/library/nginx:1.27".into(),
            image_digest: "docker.io/library/nginx@sha256:beef".into(),
            pod: PodInfo {
                name: "web-7d9f".into(),
                namespace: "shop".into(),
                uid: "1c2d".into(),
                sandbox: false,
            },
        })
    );
    let sandbox = block_on(crio_first.resolve("5e6f")).unwrap();
    assert!(
        sandbox.pod.sandbox,
        "CRI-O's annotation marks the pause container"
    );
    assert_eq!(block_on(crio_first.resolve("feed")), None, "404: not known");
    let _ = std::fs::remove_dir_all(dir);
}

fn container_event(id: &str) -> Event {
    Event::new(
        Context {
            container_id: id.into(),
            ..Context::default()
        },
        Kind::SchedProcessExec,
    )
}

#[test]
fn events_go_on_unresolved_until_the_answer_arrives_and_each_id_is_asked_once() {
    let (requests, queued) = crossbeam_channel::bounded(4);
    let (answer, answers) = crossbeam_channel::unbounded();
    let mut lookup = ContainerLookup::with_channels(8, requests, answers);
    let mut events = vec![
        container_event("c1"),
        container_event("c1"),
        Event::new(Context::default(), Kind::SchedProcessExec),
    ];
    lookup.enrich(&mut events);
    assert!(events.iter().all(|e| e.context.container.is_none()));
    assert_eq!(queued.try_iter().collect::<Vec<_>>(), ["c1"], "asked once");
    let counters = lookup.counters();
    assert_eq!(
        counters.unresolved_events.load(Ordering::Relaxed),
        2,
        "host events do not count"
    );

    let info = Arc::new(ContainerInfo {
        name: "web".into(),
        ..ContainerInfo::default()
    });
    answer.send(("c1".into(), Some(Arc::clone(&info)))).unwrap();
    let mut later = vec![container_event("c1")];
    lookup.enrich(&mut later);
    assert_eq!(later[0].context.container, Some(info));
    assert_eq!(counters.resolved.load(Ordering::Relaxed), 1);
    assert_eq!(counters.cached.load(Ordering::Relaxed), 1);

    answer.send(("c2".into(), None)).unwrap();
    lookup.enrich(&mut [container_event("c2")]);
    assert_eq!(queued.try_iter().collect::<Vec<_>>(), ["c2"]);
    answer.send(("c2".into(), None)).unwrap();
    let mut failed = vec![container_event("c2")];
    lookup.enrich(&mut failed);
    assert_eq!(failed[0].context.container, None);
    assert_eq!(counters.failed.load(Ordering::Relaxed), 2);
    assert_eq!(
        queued.try_iter().count(),
        0,
        "a failure is not asked again at once"
    );
}

#[test]
fn a_full_request_queue_drops_the_request_not_the_event() {
    let (requests, queued) = crossbeam_channel::bounded(1);
    let (_answer, answers) = crossbeam_channel::unbounded();
    let mut lookup = ContainerLookup::with_channels(8, requests, answers);
    lookup.enrich(&mut [container_event("a"), container_event("b")]);
    assert_eq!(queued.try_iter().collect::<Vec<_>>(), ["a"]);
    lookup.enrich(&mut [container_event("b")]);
    assert_eq!(queued.try_iter().collect::<Vec<_>>(), ["b"], "asked again");
}

#[test]
fn the_cache_bound_holds_across_many_containers() {
    let (requests, queued) = crossbeam_channel::bounded(QUEUED_LOOKUPS);
    let (answer, answers) = crossbeam_channel::unbounded();
    let mut lookup = ContainerLookup::with_channels(16, requests, answers);
    for n in 0..200 {
        let id = format!("c{n}");
        lookup.enrich(&mut [container_event(&id)]);
        answer.send((id, Some(Arc::default()))).unwrap();
    }
    lookup.enrich(&mut []);
    let counters = lookup.counters();
    assert_eq!(queued.try_iter().count(), 200);
    assert_eq!(counters.cached.load(Ordering::Relaxed), 16);
    assert_eq!(counters.evictions.load(Ordering::Relaxed), 200 - 16);
}

#[test]
fn lookups_can_be_switched_off() {
    let options = ContainerLookupOptions {
        enabled: false,
        ..ContainerLookupOptions::default()
    };
    assert!(ContainerLookup::start(&options).is_none());
}
