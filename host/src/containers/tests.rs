//! The lookup against a fake Docker-API socket (a thread answering canned
//! HTTP), and the event path with a scripted resolver.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use super::*;
use crate::event::{ContainerInfo, Context, Kind};

const ID: &str = "3f2a9c00d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8";

/// Answers like Docker: the container (chunked, as Go's server sends a long
/// body) and its image; 404 for anything else.
fn fake_docker(dir: &Path) -> PathBuf {
    let path = dir.join("docker.sock");
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
            let response = if target == format!("/containers/{ID}/json") {
                let body = r#"{"Id":"3f2a","Name":"/web-1","Image":"sha256:77aa","Config":{"Image":"nginx","Labels":{}}}"#;
                let (head, tail) = body.split_at(20);
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{head}\r\n{:x}\r\n{tail}\r\n0\r\n\r\n",
                    head.len(),
                    tail.len()
                )
            } else if target == "/images/sha256:77aa/json" {
                let body = r#"{"RepoTags":["docker.io/library/nginx:1.27"],"RepoDigests":["docker.io/library/nginx@sha256:beef"]}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            } else {
                let body = r#"{"message":"No such container"}"#;
                format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    path
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
    let socket = fake_docker(&dir);
    let missing = dir.join("missing.sock");
    let mut resolver = Resolver::new(vec![
        RuntimeSocket::new(missing),
        RuntimeSocket::new(socket),
    ]);
    let info = block_on(resolver.resolve(ID));
    assert_eq!(
        info,
        Some(ContainerInfo {
            name: "web-1".into(),
            image: "docker.io/library/nginx:1.27".into(),
            image_digest: "docker.io/library/nginx@sha256:beef".into(),
        }),
        "the missing socket is skipped, the leading / dropped, the tag preferred"
    );
    assert_eq!(block_on(resolver.resolve("feed")), None, "404: not known");
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
    let options = LookupOptions {
        enabled: false,
        ..LookupOptions::default()
    };
    assert!(ContainerLookup::start(&options).is_none());
}
