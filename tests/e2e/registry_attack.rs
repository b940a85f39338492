//! `sigbox pull` against a misbehaving registry: a stand-in on 127.0.0.1,
//! written here, that answers the OCI distribution endpoints as each test
//! scripts (stall, an endless body, a blob longer than its descriptor,
//! 10,000 layers) and counts the requests it gets. The good path against
//! Debian's real `docker-registry` is in `registry.rs`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigbox_e2e::{Daemon, module, peak_rss_kib, sha256_hex, sigbox_command, temp_dir, text};

/// How the stand-in answers one path.
#[derive(Clone)]
enum Answer {
    /// Accepts and never answers (for two minutes at most).
    Stall,
    /// 200 with bytes until the client hangs up (1 GiB at most).
    Endless,
    /// 200 with these bytes.
    Bytes(Vec<u8>),
}

#[derive(Default)]
struct State {
    /// The manifest digest the tag names.
    tag: String,
    /// By digest.
    manifests: HashMap<String, Vec<u8>>,
    /// Overrides every manifest answer when set.
    manifest_answer: Option<Answer>,
    blobs: HashMap<String, Answer>,
    /// `METHOD PATH` of every request, in order.
    requests: Vec<String>,
}

struct StandIn {
    address: String,
    state: Arc<Mutex<State>>,
}

impl StandIn {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Self { address, state }
    }

    fn reference(&self) -> String {
        format!("{}/detections/trc-1016:v1", self.address)
    }

    /// Publishes a manifest with these layers (type, bytes as served,
    /// descriptor size) under the tag; returns its digest.
    fn publish(&self, layers: &[(&str, Answer, usize, String)], note: &str) -> String {
        let config = b"{}".to_vec();
        let config_digest = digest_of(&config);
        let descriptors: Vec<String> = layers
            .iter()
            .map(|(media_type, _, size, digest)| {
                format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
            })
            .collect();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.wasm.config.v0+json","digest":"{config_digest}","size":2}},"layers":[{}],"annotations":{{"note":"{note}"}}}}"#,
            descriptors.join(",")
        )
        .into_bytes();
        let digest = digest_of(&manifest);
        let mut state = self.state.lock().unwrap();
        state.blobs.insert(config_digest, Answer::Bytes(config));
        for (_, answer, _, layer_digest) in layers {
            state.blobs.insert(layer_digest.clone(), answer.clone());
        }
        state.manifests.insert(digest.clone(), manifest);
        state.tag.clone_from(&digest);
        digest
    }

    /// Publishes `file` as the one wasm layer, served as `answer`.
    fn publish_module(&self, file: &Path, answer: Option<Answer>, note: &str) -> String {
        let bytes = std::fs::read(file).unwrap();
        let digest = digest_of(&bytes);
        let size = bytes.len();
        let answer = answer.unwrap_or(Answer::Bytes(bytes));
        self.publish(&[("application/wasm", answer, size, digest)], note)
    }

    fn count(&self, prefix: &str) -> usize {
        let state = self.state.lock().unwrap();
        state
            .requests
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }

    fn wait_for(&self, prefix: &str, at_least: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.count(prefix) < at_least {
            assert!(
                Instant::now() < deadline,
                "no {at_least} requests {prefix}: {:?}",
                self.state.lock().unwrap().requests
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let answer = {
        let mut state = state.lock().unwrap();
        state.requests.push(format!("{method} {path}"));
        if path == "/v2/" {
            Some((Answer::Bytes(b"{}".to_vec()), None))
        } else if let Some((_, reference)) = path.split_once("/manifests/") {
            let digest = if reference.starts_with("sha256:") {
                reference.to_owned()
            } else {
                state.tag.clone()
            };
            match &state.manifest_answer {
                Some(answer) => Some((answer.clone(), None)),
                None => state
                    .manifests
                    .get(&digest)
                    .map(|m| (Answer::Bytes(m.clone()), Some(digest))),
            }
        } else if let Some((_, digest)) = path.split_once("/blobs/") {
            state.blobs.get(digest).map(|a| (a.clone(), None))
        } else {
            None
        }
    };
    let head = method == "HEAD";
    let _ = match answer {
        None => stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        Some((Answer::Stall, _)) => {
            std::thread::sleep(Duration::from_secs(120));
            Ok(())
        }
        Some((Answer::Endless, _)) => {
            let chunk = vec![b'{'; 64 << 10];
            let mut result = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            for _ in 0..(1 << 14) {
                if result.is_err() || head {
                    break;
                }
                result = stream.write_all(&chunk);
            }
            result
        }
        Some((Answer::Bytes(bytes), digest)) => {
            let digest = digest
                .map(|d| format!("Docker-Content-Digest: {d}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"))
                .unwrap_or_default();
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{digest}Connection: close\r\n\r\n",
                bytes.len()
            )
            .into_bytes();
            if !head {
                out.extend_from_slice(&bytes);
            }
            stream.write_all(&out)
        }
    };
}

/// A one-shot `sigbox pull` ending within `bound`: its status and stderr.
fn pull_once(args: &[&str], bound: Duration) -> (bool, String) {
    let mut child = sigbox_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + bound;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`sigbox {}` still running after {bound:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn pull_args<'a>(reference: &'a str, into: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "pull",
        reference,
        "--into",
        into.to_str().unwrap(),
        "--allow-unsigned",
    ];
    args.extend_from_slice(extra);
    args
}

/// A stalled manifest, then a stalled blob: a one-shot pull fails with a
/// timeout that names its option, and installs nothing.
#[test]
fn a_stalled_manifest_or_blob_fails_a_one_shot_pull_naming_the_timeout() {
    let registry = StandIn::start();
    let into = temp_dir("attack-stall");
    let reference = registry.reference();
    registry.publish_module(&module("trc-1016"), Some(Answer::Stall), "stalled blob");
    registry.state.lock().unwrap().manifest_answer = Some(Answer::Stall);
    let args = pull_args(&reference, &into, &["--read-timeout", "1s"]);
    let (ok, out) = pull_once(&args, Duration::from_secs(60));
    assert!(!ok && out.contains("(--read-timeout)"), "{out}");
    assert!(out.contains("sent nothing for 1s"), "{out}");

    registry.state.lock().unwrap().manifest_answer = None;
    let (ok, out) = pull_once(&args, Duration::from_secs(60));
    assert!(!ok && out.contains("(--read-timeout)"), "{out}");
    assert!(out.contains("cannot fetch layer"), "{out}");
    assert!(!into.join("trc-1016.wasm").exists());

    // The whole pull is bounded too, below the read timeout here.
    let (ok, out) = pull_once(
        &pull_args(&reference, &into, &["--pull-timeout", "2s"]),
        Duration::from_secs(60),
    );
    assert!(
        !ok && out.contains("gave up after 2s (--pull-timeout)"),
        "{out}"
    );
}

/// A 1 KiB descriptor for an endless blob, and an endless manifest: each
/// is refused as soon as it passes its bound, the follower's memory stays
/// far below what was offered.
#[test]
fn an_oversize_or_endless_body_is_refused_while_streaming_with_memory_bounded() {
    let registry = StandIn::start();
    let into = temp_dir("attack-endless");
    let reference = registry.reference();
    let digest = digest_of(b"not what is served");
    registry.publish(
        &[("application/wasm", Answer::Endless, 1024, digest)],
        "endless blob",
    );
    let follower = Daemon::start(
        &pull_args(&reference, &into, &["--follow", "--every", "1s"]),
        "following",
    );
    assert!(
        follower.wait_for_stderr(
            Duration::from_secs(60),
            "passed its descriptor's size (1024 bytes) while streaming"
        ),
        "{}",
        follower.stderr_text()
    );
    registry.state.lock().unwrap().manifest_answer = Some(Answer::Endless);
    assert!(
        follower.wait_for_stderr(Duration::from_secs(60), "passed the manifest limit"),
        "{}",
        follower.stderr_text()
    );
    let peak = peak_rss_kib(follower.pid());
    // Up to 1 GiB was offered each time; the manifest limit is 4 MiB.
    assert!(peak < 96 * 1024, "peak RSS {peak} KiB");
    eprintln!("follower peak RSS after endless bodies: {peak} KiB");
    let stopped = follower.stop();
    assert!(!into.join("trc-1016.wasm").exists(), "{}", stopped.stderr);
}

/// A poll whose blob stalls is logged and retried; the next good version
/// the tag names is installed.
#[test]
fn a_follower_outlives_a_stalled_poll_and_installs_the_next_good_version() {
    let registry = StandIn::start();
    let into = temp_dir("attack-follow");
    let reference = registry.reference();
    registry.publish_module(&module("trc-1016"), Some(Answer::Stall), "stalled");
    let follower = Daemon::start(
        &pull_args(
            &reference,
            &into,
            &["--follow", "--every", "1s", "--read-timeout", "2s"],
        ),
        "following",
    );
    assert!(
        follower.wait_for_stderr(Duration::from_secs(60), "(--read-timeout)"),
        "{}",
        follower.stderr_text()
    );
    registry.publish_module(&module("trc-1016"), None, "good");
    let file = into.join("trc-1016.wasm");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !file.exists() {
        assert!(Instant::now() < deadline, "{}", follower.stderr_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(module("trc-1016")).unwrap()
    );
    assert!(follower.wait_for_stderr(Duration::from_secs(60), "installed TRC-"));
    follower.stop();
}

/// SIGTERM in the middle of a stalled download ends `pull --follow` and a
/// one-shot pull at once (read timeout left at its 30 s default).
#[test]
fn sigterm_ends_a_pull_stalled_mid_download() {
    let registry = StandIn::start();
    let into = temp_dir("attack-sigterm");
    let reference = registry.reference();
    registry.publish_module(&module("trc-1016"), Some(Answer::Stall), "stalled");
    let layer = format!(
        "/blobs/{}",
        digest_of(&std::fs::read(module("trc-1016")).unwrap())
    );
    let blob_requests = || {
        registry
            .state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.ends_with(&layer))
            .count()
    };

    let follower = Daemon::start(
        &pull_args(&reference, &into, &["--follow", "--every", "1s"]),
        "following",
    );
    let wait_for_blob = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while blob_requests() < n {
            assert!(Instant::now() < deadline, "the blob was never asked for");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for_blob(1);
    let sent = Instant::now();
    follower.signal("TERM");
    assert!(
        follower.wait_for_stderr(Duration::from_secs(20), "stopped by SIGTERM while pulling"),
        "{}",
        follower.stderr_text()
    );
    let stopped = follower.wait();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    eprintln!("follower ended {:?} after SIGTERM", sent.elapsed());

    let mut child = sigbox_command(&pull_args(&reference, &into, &[]))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_blob(2);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a one-shot pull ignored SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("stopped by SIGTERM while pulling") && stderr.contains("nothing installed"),
        "{stderr}"
    );
    assert!(!into.join("trc-1016.wasm").exists());
}

/// A manifest of 10,000 layers of no wasm type: the error names the first
/// few and the count, in one short line.
#[test]
fn ten_thousand_layers_give_a_bounded_error_line() {
    let registry = StandIn::start();
    let into = temp_dir("attack-layers");
    let long_type = format!("application/vnd.attack.{}", "x".repeat(150));
    let layers: Vec<(&str, Answer, usize, String)> = (0..10_000)
        .map(|i| {
            (
                long_type.as_str(),
                Answer::Bytes(Vec::new()),
                0,
                format!("sha256:{i:064x}"),
            )
        })
        .collect();
    registry.publish(&layers, "many layers");
    let reference = registry.reference();
    let (ok, out) = pull_once(&pull_args(&reference, &into, &[]), Duration::from_secs(60));
    assert!(!ok, "{out}");
    assert!(out.contains("10000 layer(s) of types"), "{out}");
    assert!(out.contains("(9997 more)"), "{out}");
    let longest = out.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2048, "a line of {longest} bytes:\n{out}");
    assert_eq!(registry.count("GET /v2/detections/trc-1016/blobs/"), 0);
}

/// The tag unchanged, or moved to a manifest with the layers already
/// installed: nothing is downloaded again, by a one-shot pull or a follower.
#[test]
fn an_unchanged_tag_is_not_downloaded_again() {
    let registry = StandIn::start();
    let into = temp_dir("attack-unchanged");
    let reference = registry.reference();
    registry.publish_module(&module("trc-1016"), None, "v1");
    let blobs = "GET /v2/detections/trc-1016/blobs/";
    let args = pull_args(&reference, &into, &[]);
    let (ok, out) = pull_once(&args, Duration::from_secs(60));
    assert!(ok && out.contains("installed TRC-"), "{out}");
    assert_eq!(registry.count(blobs), 1);
    let (ok, out) = pull_once(&args, Duration::from_secs(60));
    assert!(ok && out.contains("already installed:"), "{out}");
    assert_eq!(registry.count(blobs), 1, "{out}");

    let follower = Daemon::start(
        &pull_args(&reference, &into, &["--follow", "--every", "1s"]),
        "following",
    );
    let heads = "HEAD /v2/detections/trc-1016/manifests/v1";
    let seen = registry.count(heads);
    // The tag re-pushed with a new manifest, same module: resolved and
    // read, not downloaded.
    registry.wait_for(heads, seen + 2);
    registry.publish_module(&module("trc-1016"), None, "v1 again");
    registry.wait_for(heads, seen + 5);
    let stopped = follower.stop();
    assert_eq!(registry.count(blobs), 1, "{}", stopped.stderr);
    assert_eq!(
        stopped.stderr.matches("is already installed as").count(),
        2,
        "{}",
        stopped.stderr
    );
}
