//! The metrics listener under attack, through the real daemon: thousands of
//! idle connections, a client that never finishes its headers, request
//! bodies, and a signatures directory that cannot be listed. Detection,
//! hot swap and `/healthz` keep working; the listener's bounds and a failed
//! scan are visible in `/metrics`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use sigbox_e2e::{
    Daemon, free_port, http_get, is_root, metric, sigbox_command, signatures_with, temp_dir,
};

use crate::live::{READY, run_as, start_live_with};

/// Idle connections the attack opens: far more than the daemon's
/// descriptor limit in [`listener_attack_leaves_the_daemon_its_descriptors`].
const ATTACK_CONNECTIONS: usize = 2000;

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

/// `sigbox run` on `args`, started by a shell that first sets the
/// open-file limit to `soft` (soft) and `hard` (hard), as a unit's
/// `LimitNOFILE=` or a container runtime would.
fn run_with_open_file_limit(soft: u32, hard: u32, args: &[&str]) -> Daemon {
    let sigbox = sigbox_command(args);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" \"$@\""
        ))
        .arg(sigbox.get_program())
        .args(sigbox.get_args());
    for (name, value) in sigbox.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    Daemon::start_command(command, READY)
}

/// Raises this test process's own open-file limit to its hard limit (the
/// attack's sockets are ours) and returns it.
fn raise_own_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain get/setrlimit on a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit), 0);
    }
    limit.rlim_cur
}

/// Opens up to `count` idle connections (nothing is sent on them) to
/// `address` and keeps them open; returns them. Stops at the first that
/// cannot connect: the listener's backlog is full, it no longer accepts.
fn idle_connections(address: &str, count: usize) -> Vec<TcpStream> {
    let address: SocketAddr = address.parse().unwrap();
    (0..count)
        .map_while(|_| TcpStream::connect_timeout(&address, Duration::from_secs(5)).ok())
        .collect()
}

/// The daemon's open descriptors.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// Under the attack the issue describes (idle connections, many more than
/// the daemon's descriptor limit), a signed module published meanwhile
/// loads and detects, `/healthz` answers a new client, and the refused
/// connections are counted. The daemon raised its soft limit to the hard
/// one at start and said so.
#[test]
fn listener_attack_leaves_the_daemon_its_descriptors() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let own_limit = raise_own_open_file_limit();
    let attack = ATTACK_CONNECTIONS.min(own_limit.saturating_sub(200) as usize);
    assert!(attack > 600, "this process may open only {own_limit} files");
    let dir = signatures_with("listener-attack", &["trc-105"]);
    let listen = format!("127.0.0.1:{}", free_port());
    let status_file = temp_dir("status").join("status.json");
    let daemon = run_with_open_file_limit(
        256,
        512,
        &[
            "run",
            "--signatures",
            dir.to_str().unwrap(),
            "--status-file",
            status_file.to_str().unwrap(),
            "--listen",
            &listen,
        ],
    );

    let held = idle_connections(&listen, attack);
    let during_attack = open_descriptors(daemon.pid());

    // Published as a publisher does: written under a hidden name, renamed.
    let staged = dir.join(".trc-1016.wasm.tmp");
    std::fs::copy(sigbox_e2e::module("trc-1016"), &staged).unwrap();
    std::fs::rename(&staged, dir.join("trc-1016.wasm")).unwrap();
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "loaded signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    let pid = run_as("nginx", "exec /bin/sh -c true");
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(60), |lines| lines.iter().any(|l| l
            .contains("TRC-1016")
            && l.contains(&format!("\"hostProcessId\":{pid}")))),
        "no finding for pid {pid}:\n{}",
        daemon.stderr_text()
    );

    // The held connections are closed by the header timeout; a new client
    // then gets an answer, with the attack's connections still open here.
    assert!(
        eventually(Duration::from_secs(120), || http_get(&listen, "/healthz")
            .is_some_and(|(status, _)| status == 200)),
        "{}",
        daemon.stderr_text()
    );
    let (_, metrics) = http_get(&listen, "/metrics").unwrap();
    let refused = metric(&metrics, "sigbox_listener_refused_connections_total").unwrap();
    assert!(refused > 0.0, "{metrics}");
    eprintln!(
        "{} idle connections; the daemon held {during_attack} descriptors under attack; \
         {refused} connections refused",
        held.len()
    );
    assert!(during_attack < 512, "{during_attack} descriptors open");
    // It kept accepting (and closing) every one.
    assert_eq!(held.len(), attack, "the listener stopped accepting");
    // It ran with that limit because it raised its soft limit to it.
    assert!(
        daemon
            .stderr_text()
            .contains("open-file limit: raised from 256 to 512"),
        "{}",
        daemon.stderr_text()
    );
    drop(held);
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// A client that sends part of a request head and then nothing is
/// disconnected (by the header timeout); a request with a body is refused.
#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let dir = signatures_with("slowloris", &["trc-105"]);
    let listen = format!("127.0.0.1:{}", free_port());
    let Some((daemon, _)) = start_live_with(&dir, &["--listen", &listen]) else {
        return;
    };
    let mut slow = TcpStream::connect(&listen).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: sigbox\r\nX-Slow: ")
        .unwrap();
    // Generous: only a daemon that never closes it waits this long.
    slow.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut rest = Vec::new();
    match slow.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        Err(error) => panic!("the slow client was not disconnected: {error}"),
    }
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&rest)
    );

    let mut with_body = TcpStream::connect(&listen).unwrap();
    with_body
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: sigbox\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    with_body
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answer = [0; 64];
    let read = with_body.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let (status, _) = http_get(&listen, "/healthz").unwrap();
    assert_eq!(status, 200);
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// A scan that cannot list the directory (here: it was moved away) is
/// logged, counted and turns `/healthz` to 503 with the reason; it is
/// retried without SIGHUP, so once the directory is back a module added
/// meanwhile loads and `/healthz` is 200 again.
#[test]
fn a_failed_directory_scan_is_reported_and_retried() {
    let dir = signatures_with("scan-retry", &["trc-105"]);
    let listen = format!("127.0.0.1:{}", free_port());
    let Some((daemon, _)) = start_live_with(&dir, &["--listen", &listen]) else {
        return;
    };
    let away = dir.with_extension("away");
    std::fs::rename(&dir, &away).unwrap();
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_stderr(
            Duration::from_secs(60),
            "cannot list the signatures directory"
        ),
        "{}",
        daemon.stderr_text()
    );
    let (status, body) = http_get(&listen, "/healthz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cannot be scanned"), "{body}");
    let (_, metrics) = http_get(&listen, "/metrics").unwrap();
    assert!(
        metric(&metrics, "sigbox_directory_scan_failures_total") >= Some(1.0),
        "{metrics}"
    );

    std::fs::copy(sigbox_e2e::module("trc-1016"), away.join("trc-1016.wasm")).unwrap();
    std::fs::rename(&away, &dir).unwrap();
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "loaded signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(60), "can be listed again"),
        "{}",
        daemon.stderr_text()
    );
    let (status, body) = http_get(&listen, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}
