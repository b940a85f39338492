//! Running sigbox as a fleet does, through real parts: the systemd unit
//! (checked by `systemd-analyze`, and its ExecStart run as written after
//! `make install`), a real Prometheus scraping `/metrics`, `/healthz`, a
//! webhook receiver that fails, recovers and stalls, and the findings file
//! rotated under a burst.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sigbox_e2e::{
    Daemon, free_port, http_get, is_root, metric, repo_root, signatures_with, temp_dir,
};

use crate::live::{READY, run_as, start_live_with};

/// Waits until `condition` holds, up to `timeout`; false if it never did.
fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    condition()
}

/// `/metrics` of the daemon at `address`.
fn scrape(address: &str) -> String {
    match http_get(address, "/metrics") {
        Some((200, body)) => body,
        other => panic!("GET /metrics on {address}: {other:?}"),
    }
}

/// A web server (a shell named nginx) starting a shell: one TRC-1016
/// finding for the returned pid.
fn web_server_shell() -> u32 {
    run_as("nginx", "exec /bin/sh -c true")
}

/// A web-server shell whose server is named `server` (one of TRC-1016's
/// names): a test gives its own name so that its receiver can tell its
/// findings from those of tests running beside it.
fn shell_of(server: &str) -> u32 {
    run_as(server, "exec /bin/sh -c true")
}

/// A real Prometheus server on loopback scraping `target` every second.
struct Prometheus {
    child: Child,
    address: String,
}

impl Prometheus {
    fn start(target: &str) -> Self {
        let dir = temp_dir("prometheus");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
                 - job_name: sigbox\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("starting prometheus (Debian package prometheus; `make` installs it)");
        let prometheus = Self { child, address };
        assert!(
            eventually(Duration::from_secs(60), || {
                http_get(&prometheus.address, "/-/ready").is_some_and(|(status, _)| status == 200)
            }),
            "prometheus did not start: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        prometheus
    }

    /// The value of the instant query `query` (one series), if any.
    fn query(&self, query: &str) -> Option<f64> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = http_get(&self.address, &format!("/api/v1/query?query={encoded}"))?;
        if status != 200 {
            return None;
        }
        let answer: Value = serde_json::from_str(&body).ok()?;
        answer["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the webhook receiver answers a request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Answer with this redirect status and `Location`.
    Redirect(u16, &'static str),
    /// Read the request, never answer (the connection stays open).
    Stall,
}

/// An HTTP receiver on loopback answering requests in `script` order (the
/// last answer repeats), recording the bodies it answered 200 to.
struct Receiver {
    address: String,
    bodies: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<usize>>,
}

impl Receiver {
    fn start(script: Vec<Answer>) -> Self {
        Self::start_for(None, script)
    }

    /// A receiver whose `script` answers only bodies containing `marker`;
    /// any other body gets 200 and is neither recorded nor counted. The live
    /// daemon sees every exec on the machine, so a test running beside this
    /// one can send findings here too: they must not use up the script.
    fn start_for(marker: Option<&'static str>, script: Vec<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let (seen, count) = (bodies.clone(), requests.clone());
        std::thread::spawn(move || {
            let mut stalled = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(body) = read_request(&mut stream) else {
                    continue;
                };
                if marker.is_some_and(|marker| !body.contains(marker)) {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    continue;
                }
                let n = {
                    let mut count = count.lock().unwrap();
                    *count += 1;
                    *count - 1
                };
                match script[n.min(script.len() - 1)] {
                    Answer::Status(status) => {
                        if status == 200 {
                            seen.lock().unwrap().push(body);
                        }
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                    }
                    Answer::Redirect(status, location) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {status} X\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                    }
                    Answer::Stall => stalled.push(stream),
                }
            }
        });
        Self {
            address,
            bodies,
            requests,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/findings", self.address)
    }
}

/// Reads one request and returns its body.
fn read_request(stream: &mut std::net::TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let headers = String::from_utf8_lossy(&data[..header_end]).to_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < header_end + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&data[header_end..header_end + length]).into_owned())
}

#[test]
fn the_systemd_unit_verifies_and_stays_hardened() {
    let dir = temp_dir("unit");
    let installed = install(&dir);
    // `systemd-analyze verify` checks that ExecStart's binary exists: point
    // a copy of the unit at the staged one.
    let staged = dir.join("verify/sigbox.service");
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    let unit =
        std::fs::read_to_string(installed.join("etc/systemd/system/sigbox.service")).unwrap();
    std::fs::write(
        &staged,
        unit.replace(
            "/usr/local/",
            &format!("{}/usr/local/", installed.display()),
        ),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .args(["verify", staged.to_str().unwrap()])
        .output()
        .expect("running systemd-analyze");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // Exposure 3.0 ("OK") today; a change that weakens the sandbox past 3.5 fails.
    let security = Command::new("systemd-analyze")
        .args([
            "security",
            "--offline=true",
            "--threshold=35",
            staged.to_str().unwrap(),
        ])
        .output()
        .expect("running systemd-analyze");
    let report = String::from_utf8_lossy(&security.stdout);
    assert!(security.status.success(), "{report}");
    assert!(
        report.contains("Overall exposure level for sigbox.service: 3."),
        "{report}"
    );
}

/// `make install` and the container image carry the binary without debug
/// sections (target/release/sigbox keeps line tables for backtraces, most
/// of its size), and the stripped binary runs.
#[test]
fn the_installed_and_image_binaries_are_stripped() {
    let dir = temp_dir("stripped");
    let root = repo_root();
    let image = dir.join("rootfs");
    let status = Command::new("bash")
        .arg(root.join("deploy/container/rootfs.sh"))
        .arg(&image)
        .arg(root.join("target/release/sigbox"))
        .arg(root.join("target/signatures"))
        .arg(root.join("target/dev-trust.toml"))
        .status()
        .expect("running rootfs.sh");
    assert!(status.success());
    let built = std::fs::metadata(root.join("target/release/sigbox"))
        .unwrap()
        .len();
    for binary in [
        install(&dir).join("usr/local/bin/sigbox"),
        image.join("usr/local/bin/sigbox"),
    ] {
        let sections = Command::new("readelf")
            .args(["--sections", "--wide"])
            .arg(&binary)
            .output()
            .expect("running readelf (binutils)");
        let sections = String::from_utf8_lossy(&sections.stdout);
        assert!(sections.contains(".text"), "{sections}");
        // (`.debug_gdb_scripts` is loaded data, not debug info: it stays.)
        for debug_info in [".debug_info", ".debug_line", ".debug_str"] {
            assert!(
                !sections.contains(debug_info),
                "{}: {sections}",
                binary.display()
            );
        }
        let size = std::fs::metadata(&binary).unwrap().len();
        assert!(
            size < built,
            "{}: {size} bytes, built {built}",
            binary.display()
        );
        let version = Command::new(&binary).arg("--version").output().unwrap();
        assert!(version.status.success(), "{}", binary.display());
    }
}

/// `make install-files DESTDIR=dir/root` (what `make install` does after
/// building); returns the staged root.
fn install(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    let out = Command::new("make")
        .arg("-C")
        .arg(repo_root())
        .arg("--no-print-directory")
        .arg("install-files")
        .arg(format!("DESTDIR={}", root.display()))
        .output()
        .expect("running make");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

/// The end-to-end path: `make install`, the daemon started exactly
/// as the unit's ExecStart says, within its capability bounding set and
/// with no_new_privs (systemd is not PID 1 here; paths are staged under
/// DESTDIR), a web server spawning a shell, and the finding in
/// the findings file, at the webhook, and as a counter in a real
/// Prometheus.
#[test]
fn the_installed_unit_delivers_a_finding_to_file_webhook_and_prometheus() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let dir = temp_dir("installed");
    let root = install(&dir);
    let receiver = Receiver::start(vec![Answer::Status(200)]);
    let listen = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        root.join("etc/sigbox/sigbox.env"),
        format!(
            "SIGBOX_OPTIONS=--webhook {} --listen {listen}\n",
            receiver.url()
        ),
    )
    .unwrap();
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/sigbox.service")).unwrap();
    let (program, args, environment) = exec_start(&unit, &root);
    // What systemd would create: StateDirectory, CacheDirectory (0700),
    // LogsDirectory, RuntimeDirectory.
    for (path, mode) in [
        ("var/lib/sigbox", 0o755),
        ("var/cache/sigbox", 0o700),
        ("var/log/sigbox", 0o755),
        ("run/sigbox", 0o755),
    ] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(root.join(path)).unwrap();
        std::fs::set_permissions(root.join(path), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    // With the unit's capability bounding set and no_new_privs, as systemd
    // would apply them.
    let bounding: Vec<String> = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit limits capabilities")
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    assert!(unit.contains("\nNoNewPrivileges=yes\n"));
    let mut command = Command::new("setpriv");
    command
        .arg("--bounding-set")
        .arg(format!("-all,{}", bounding.join(",")))
        .args(["--inh-caps", "-all", "--no-new-privs", "--"])
        .arg(&program)
        .args(&args)
        .env_clear()
        .env("RUST_LOG", "info");
    for (name, value) in environment {
        command.env(name, value);
    }
    let daemon = Daemon::start_command(command, READY);
    let prometheus = Prometheus::start(&listen);

    let pid = web_server_shell();
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
            !crate::pack_live::findings(lines, "TRC-1016", pid).is_empty()
        }),
        "no finding on stdout: {}",
        daemon.stderr_text()
    );
    let file = root.join("var/log/sigbox/findings.jsonl");
    assert!(
        eventually(Duration::from_secs(30), || std::fs::read_to_string(&file)
            .unwrap_or_default()
            .contains(&format!("\"hostProcessId\":{pid},"))),
        "not in {}",
        file.display()
    );
    assert!(
        eventually(Duration::from_secs(30), || receiver
            .bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains(&format!("\"hostProcessId\":{pid},")))),
        "not at the webhook: {}",
        daemon.stderr_text()
    );
    assert!(
        eventually(Duration::from_secs(60), || prometheus
            .query("up{job=\"sigbox\"}")
            == Some(1.0)),
        "prometheus never scraped sigbox"
    );
    assert!(
        eventually(Duration::from_secs(60), || prometheus
            .query("sigbox_signature_findings_total{id=\"TRC-1016\"}")
            .is_some_and(|v| v >= 1.0)),
        "no finding counter in prometheus: {}",
        scrape(&listen)
    );
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// The unit's ExecStart with `$SIGBOX_OPTIONS` from its EnvironmentFile
/// expanded and every installed path staged under `root`; the program, its
/// arguments and the unit's environment.
fn exec_start(unit: &str, root: &Path) -> (PathBuf, Vec<String>, Vec<(String, String)>) {
    let stage = |word: &str| -> String {
        let installed = ["/usr/local/", "/etc/sigbox/", "/var/", "/run/sigbox/"];
        if installed.iter().any(|p| word.starts_with(p)) {
            format!("{}{word}", root.display())
        } else {
            word.to_owned()
        }
    };
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in the unit"))
            .trim()
            .to_owned()
    };
    let env_file = stage(value("EnvironmentFile=").trim_start_matches('-'));
    let options = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SIGBOX_OPTIONS=").map(str::to_owned))
        .unwrap_or_default();
    let mut words = Vec::new();
    for word in value("ExecStart=").split_whitespace() {
        if word == "$SIGBOX_OPTIONS" {
            words.extend(options.split_whitespace().map(str::to_owned));
        } else {
            words.push(stage(word));
        }
    }
    let (name, setting) = value("Environment=")
        .split_once('=')
        .map(|(n, v)| (n.to_owned(), stage(v)))
        .unwrap();
    let program = PathBuf::from(words.remove(0));
    (program, words, vec![(name, setting)])
}

#[test]
fn healthz_is_503_with_the_reason_until_a_signature_is_active() {
    let dir = temp_dir("healthz");
    let listen = format!("127.0.0.1:{}", free_port());
    let Some((daemon, _)) = start_live_with(&dir, &["--listen", &listen]) else {
        return;
    };
    let (status, body) = http_get(&listen, "/healthz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no signature is loaded"), "{body}");
    std::fs::copy(sigbox_e2e::module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    assert!(
        eventually(Duration::from_secs(120), || http_get(&listen, "/healthz")
            .is_some_and(|(status, _)| status == 200)),
        "{}",
        daemon.stderr_text()
    );
    let (_, body) = http_get(&listen, "/healthz").unwrap();
    assert!(body.contains("1 of 1 signatures active"), "{body}");
    let (status, _) = http_get(&listen, "/nothing").unwrap();
    assert_eq!(status, 404);
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// A receiver that redirects (303, then 307 to another host) is a failed
/// delivery: retried, counted and logged with the `Location`, never
/// followed (a 303 would turn the POST into a body-less GET, a 307 would
/// hand findings to another host); the finding arrives once the receiver
/// answers 200.
#[test]
fn webhook_redirects_are_failed_deliveries_never_followed() {
    let dir = signatures_with("webhook-redirect", &["trc-1016"]);
    // Where the redirects point: it must never see a request.
    let elsewhere = Receiver::start(vec![Answer::Status(200)]);
    let location: &'static str =
        Box::leak(format!("http://{}/stolen", elsewhere.address).into_boxed_str());
    let receiver = Receiver::start_for(
        Some("\"apache2\""),
        vec![
            Answer::Redirect(303, location),
            Answer::Redirect(307, location),
            Answer::Status(200),
        ],
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let url = receiver.url();
    let Some((daemon, _)) = start_live_with(
        &dir,
        &[
            "--listen",
            &listen,
            "--webhook",
            &url,
            "--webhook-batch",
            "1",
            "--webhook-retries",
            "3",
        ],
    ) else {
        return;
    };
    let pid = shell_of("apache2");
    assert!(
        eventually(Duration::from_secs(60), || receiver
            .bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains(&format!("\"hostProcessId\":{pid},")))),
        "not delivered after two redirects: {}",
        daemon.stderr_text()
    );
    let metrics = scrape(&listen);
    assert_eq!(
        metric(&metrics, "sigbox_output_retries_total{output=\"webhook\"}"),
        Some(2.0),
        "{metrics}"
    );
    // At least ours: the daemon sees every exec on the machine, and a test
    // running beside this one may start a web-server shell too.
    assert!(
        metric(&metrics, "sigbox_output_sent_total{output=\"webhook\"}")
            .is_some_and(|sent| sent >= 1.0),
        "{metrics}"
    );
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert_eq!(
        *elsewhere.requests.lock().unwrap(),
        0,
        "a redirect was followed"
    );
    for status in ["303", "307"] {
        assert!(
            stopped.stderr.contains(&format!(
                "answered {status} See Other redirecting to {location}"
            )) || stopped.stderr.contains(&format!(
                "answered {status} Temporary Redirect redirecting to {location}"
            )),
            "{status} not logged with its Location: {}",
            stopped.stderr
        );
    }
}

/// A receiver that answers 500, then 200, then stalls: the retry is
/// counted and the finding delivered; then, stalled, the bounded queue
/// fills and findings there are dropped and counted, while stdout (event
/// collection) keeps up.
#[test]
fn webhook_retries_and_drops_are_counted_and_never_slow_collection() {
    let dir = signatures_with("webhook", &["trc-1016"]);
    let receiver = Receiver::start_for(
        Some("\"lighttpd\""),
        vec![Answer::Status(500), Answer::Status(200), Answer::Stall],
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let url = receiver.url();
    let Some((daemon, _)) = start_live_with(
        &dir,
        &[
            "--listen",
            &listen,
            "--webhook",
            &url,
            "--webhook-batch",
            "1",
            "--webhook-queue",
            "2",
            "--webhook-timeout-ms",
            "500",
            "--webhook-retries",
            "1",
        ],
    ) else {
        return;
    };
    let first = shell_of("lighttpd");
    assert!(
        eventually(Duration::from_secs(60), || receiver
            .bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains(&format!("\"hostProcessId\":{first},")))),
        "not delivered after a 500: {}",
        daemon.stderr_text()
    );
    let body = receiver.bodies.lock().unwrap()[0].clone();
    let batch: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(batch.as_array().map(Vec::len), Some(1), "{body}");
    let metrics = scrape(&listen);
    assert!(
        metric(&metrics, "sigbox_output_retries_total{output=\"webhook\"}") >= Some(1.0),
        "{metrics}"
    );
    // At least ours: tests beside this one may send theirs here too.
    assert!(
        metric(&metrics, "sigbox_output_sent_total{output=\"webhook\"}")
            .is_some_and(|sent| sent >= 1.0),
        "{metrics}"
    );

    // Stalled from now on: 8 more findings; at most one in flight and two
    // queued, the rest dropped.
    let pids: Vec<u32> = (0..8).map(|_| shell_of("lighttpd")).collect();
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(30), |lines| pids
            .iter()
            .all(|&pid| !crate::pack_live::findings(lines, "TRC-1016", pid).is_empty())),
        "stdout fell behind a stalled webhook: {}",
        daemon.stderr_text()
    );
    assert!(
        eventually(Duration::from_secs(30), || metric(
            &scrape(&listen),
            "sigbox_output_dropped_total{output=\"webhook\"}"
        ) >= Some(5.0)),
        "{}",
        scrape(&listen)
    );
    assert!(*receiver.requests.lock().unwrap() >= 3);
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(
        stopped.stderr.contains("its queue of 2 records is full"),
        "{}",
        stopped.stderr
    );
}

/// A burst of findings across a size rotation: every finding is in the
/// file or its rotated predecessor exactly once, each a whole JSON line;
/// SIGUSR1 after logrotate's rename starts a new file.
#[test]
fn the_findings_file_rotates_under_a_burst_without_losing_or_splitting_a_finding() {
    let dir = signatures_with("rotate", &["trc-1016"]);
    let out = temp_dir("rotate-out");
    let file = out.join("findings.jsonl");
    let Some((daemon, _)) = start_live_with(
        &dir,
        &[
            "--output-file",
            file.to_str().unwrap(),
            "--output-file-max-mib",
            "1",
            "--output-file-keep",
            "3",
        ],
    ) else {
        return;
    };
    // About 2.4 KB per finding: 600 findings make about 1.4 MiB.
    let bin = temp_dir("rotate-bin");
    let nginx = bin.join("nginx");
    std::fs::copy("/bin/sh", &nginx).unwrap();
    let script = format!(
        "for i in $(seq 600); do {} -c 'exec /bin/sh -c :'; done",
        nginx.display()
    );
    let mut burst = crate::live::spawn_fresh_copy(Command::new("/bin/sh").args(["-c", &script]));
    let parent = burst.id();
    assert!(burst.wait().unwrap().success());
    // The burst's findings: every nginx it started is a child of the loop.
    let of_burst = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| {
                serde_json::from_str::<Value>(l).is_ok_and(|f| f["hostParentProcessId"] == parent)
            })
            .cloned()
            .collect()
    };
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(120), |lines| of_burst(lines).len()
            >= 600),
        "{} burst findings on stdout: {}",
        of_burst(&daemon.stdout_lines()).len(),
        daemon.stderr_text()
    );
    let on_stdout = of_burst(&daemon.stdout_lines());
    assert_eq!(on_stdout.len(), 600);
    let in_files = || -> Vec<String> {
        let mut lines = Vec::new();
        for name in [
            "findings.jsonl.3",
            "findings.jsonl.2",
            "findings.jsonl.1",
            "findings.jsonl",
        ] {
            if let Ok(text) = std::fs::read_to_string(out.join(name)) {
                assert!(
                    text.is_empty() || text.ends_with('\n'),
                    "{name} ends mid-line"
                );
                for line in text.lines() {
                    serde_json::from_str::<Value>(line)
                        .unwrap_or_else(|e| panic!("split or broken line in {name}: {e}: {line}"));
                    lines.push(line.to_owned());
                }
            }
        }
        lines
    };
    assert!(eventually(
        Duration::from_secs(30),
        || of_burst(&in_files()).len() >= 600
    ));
    assert!(
        out.join("findings.jsonl.1").exists(),
        "no rotation happened"
    );
    assert!(std::fs::metadata(&file).unwrap().len() <= 1 << 20);
    assert_eq!(
        of_burst(&in_files()),
        on_stdout,
        "the files hold each finding once, whole, in order"
    );

    // logrotate: rename, SIGUSR1, and the next finding goes to a new file.
    std::fs::rename(&file, out.join("rotated-away")).unwrap();
    daemon.signal("USR1");
    assert!(daemon.wait_for_stderr(Duration::from_secs(30), "SIGUSR1"));
    let pid = web_server_shell();
    assert!(
        eventually(Duration::from_secs(30), || std::fs::read_to_string(&file)
            .unwrap_or_default()
            .contains(&format!("\"hostProcessId\":{pid},"))),
        "{}",
        daemon.stderr_text()
    );
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// `--syslog-socket`: each finding is one RFC 5424 message (facility
/// daemon, severity warning) on the socket, carrying the finding's JSON.
#[test]
fn findings_reach_syslog_as_rfc5424_messages() {
    let dir = signatures_with("syslog", &["trc-1016"]);
    let socket_dir = temp_dir("syslog-socket");
    let socket_path = socket_dir.join("log");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let Some((daemon, _)) =
        start_live_with(&dir, &["--syslog-socket", socket_path.to_str().unwrap()])
    else {
        return;
    };
    let pid = web_server_shell();
    let needle = format!("\"hostProcessId\":{pid},");
    let mut buf = vec![0u8; 65536];
    let message = loop {
        let n = socket
            .recv(&mut buf)
            .expect("no syslog message within 60 s");
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        if message.contains(&needle) {
            break message;
        }
    };
    // <PRI>VERSION TIMESTAMP HOST APP PROCID MSGID SD MSG
    assert!(message.starts_with("<28>1 "), "{message}");
    let fields: Vec<&str> = message.splitn(8, ' ').collect();
    assert_eq!(fields[3], "sigbox", "{message}");
    assert_eq!(fields[4], daemon.pid().to_string(), "{message}");
    let finding: Value = serde_json::from_str(fields[7]).unwrap();
    assert_eq!(finding["metadata"]["Properties"]["signatureID"], "TRC-1016");
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// `--log-format json`: every log record on stderr is one JSON object.
#[test]
fn logs_can_be_json_lines() {
    let dir = signatures_with("json-logs", &["trc-1016"]);
    let out = sigbox_e2e::sigbox(&[
        "replay",
        "--log-format",
        "json",
        "-s",
        dir.to_str().unwrap(),
        sigbox_e2e::fixture("sample-events.jsonl").to_str().unwrap(),
    ]);
    let stderr = sigbox_e2e::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let records: Vec<Value> = stderr
        .lines()
        // The end-of-run summary is a report, not a log record.
        .take_while(|l| !l.starts_with("sigbox: summary"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        records.iter().any(|r| r["level"] == "INFO"
            && r["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("loaded signature TRC-1016"))),
        "{stderr}"
    );
}

/// A tmpfs of `size` mounted on a new directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(label: &str, size: &str) -> Self {
        let dir = temp_dir(label);
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("running mount");
        assert!(status.success(), "mount -t tmpfs on {}", dir.display());
        Self(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A full disk never corrupts the findings file: a record that does not fit
/// is cut back whole (counted as dropped), and once space returns the file
/// is still valid JSON lines, holding only whole records.
#[test]
fn a_full_disk_leaves_the_findings_file_whole_records_only() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = signatures_with("enospc", &["trc-1016"]);
    // 4 pages; a filler takes 3, leaving the findings file one page: room
    // for a record or two, then a short write.
    let disk = Tmpfs::mount("enospc-disk", "16k");
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![b'x'; 3 * 4096]).unwrap();
    let findings_file = disk.0.join("findings.jsonl");
    let Some((daemon, _)) =
        start_live_with(&dir, &["--output-file", findings_file.to_str().unwrap()])
    else {
        return;
    };
    let on_stdout = |pid: u32| {
        daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
            !crate::pack_live::findings(lines, "TRC-1016", pid).is_empty()
        })
    };
    // Six findings into one page: the disk fills. Each line goes to stdout,
    // then to the file, on one thread: once the 7th is on stdout, the file
    // writes of the first six are done.
    let mut pids: Vec<u32> = (0..7).map(|_| web_server_shell()).collect();
    assert!(on_stdout(pids[6]), "{}", daemon.stderr_text());
    assert!(
        daemon.stderr_text().contains("cannot write findings to"),
        "the disk never filled: {}",
        daemon.stderr_text()
    );
    // Space returns: the next records are written whole.
    std::fs::remove_file(&filler).unwrap();
    let after: Vec<u32> = (0..2).map(|_| web_server_shell()).collect();
    assert!(on_stdout(after[1]), "{}", daemon.stderr_text());
    pids.extend(&after);
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(
        stopped
            .stderr
            .contains(&format!("writing {} again", findings_file.display())),
        "{}",
        stopped.stderr
    );
    let text = std::fs::read_to_string(&findings_file).unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    let in_file: Vec<u32> = text
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a whole JSON record ({e}): {line:?}"));
            record["hostProcessId"].as_u64().unwrap() as u32
        })
        // The daemon sees every exec on the machine: a test beside this
        // one may add findings of its own web-server shells.
        .filter(|pid| pids.contains(pid))
        .collect();
    // The first few fit, in order (the 7th's file write may have come after
    // the filler went, and fit); the last two are there, whole.
    assert!(in_file.ends_with(&after), "{in_file:?} of {pids:?}");
    assert!(
        in_file.len() < pids.len(),
        "the disk never filled: {in_file:?}"
    );
    let positions: Vec<usize> = in_file
        .iter()
        .map(|pid| pids.iter().position(|p| p == pid).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{in_file:?} of {pids:?}"
    );
}
