//! `sigbox run`: real exec events from the kernel through the real eBPF
//! collector and real signature modules. Needs root (CI is root).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{
    Daemon, free_port, http_get, is_root, metric, signatures_with, temp_dir, test_module,
};

/// The log line `sigbox run` prints once the collector is attached.
pub const READY: &str = "watching exec events";

/// Starts `sigbox run` on `dir`, or returns None (and says why) when not root.
pub fn start_live(dir: &Path) -> Option<Daemon> {
    start_live_with(dir, &[]).map(|(daemon, _)| daemon)
}

/// Like [`start_live`], with `extra` options; also returns the daemon's
/// status file.
pub fn start_live_with(dir: &Path, extra: &[&str]) -> Option<(Daemon, PathBuf)> {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return None;
    }
    // Each daemon its own status file (two may not share one), outside the
    // watched directory.
    let status_file = temp_dir("status").join("status.json");
    let mut args = vec![
        "run",
        "--signatures",
        dir.to_str().unwrap(),
        "--status-file",
        status_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Some((Daemon::start(&args, READY), status_file))
}

/// Runs a copy of /bin/sh named `comm` with `-c script` and returns its pid.
/// `exec` in the script replaces that process, so the exec it makes has this
/// pid and `comm` as its prev_comm.
pub fn run_as(comm: &str, script: &str) -> u32 {
    let dir = temp_dir("comm");
    let program = dir.join(comm);
    std::fs::copy("/bin/sh", &program).unwrap();
    let mut child = spawn_fresh_copy(Command::new(&program).args(["-c", script]));
    let pid = child.id();
    assert!(
        child.wait().unwrap().success(),
        "{comm} -c {script:?} failed"
    );
    pid
}

/// Spawns a program that was just copied. Another test thread forking at
/// the moment of the copy can briefly inherit the copy's write descriptor,
/// and exec then fails with ETXTBSY until that child execs; retry briefly.
pub fn spawn_fresh_copy(command: &mut Command) -> std::process::Child {
    for _ in 0..100 {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result.expect("spawning a copied program"),
        }
    }
    panic!("the copied program stayed busy (ETXTBSY) for a second");
}

/// "Text file busy" on Linux.
const ETXTBSY: i32 = 26;

/// Parsed findings whose `hostProcessId` is one of `pids`.
fn findings_for(lines: &[String], pids: &[u32]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("a finding is JSON"))
        .filter(|f| {
            f["hostProcessId"]
                .as_u64()
                .is_some_and(|p| pids.contains(&(p as u32)))
        })
        .collect()
}

fn detected_from_arg<'a>(finding: &'a Value, name: &str) -> Option<&'a Value> {
    finding["args"][0]["value"]["args"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .map(|a| &a["value"])
}

#[test]
fn web_server_shell_is_detected_live() {
    let dir = signatures_with("live-trc", &["trc-1016"]);
    let Some(daemon) = start_live(&dir) else {
        return;
    };
    let shell = run_as("nginx", "exec /bin/sh -c true");
    let sshd = run_as("sshd", "exec /bin/sh -c true");
    let not_shell = run_as("nginx", "exec /bin/true");
    let pids = [shell, sshd, not_shell];
    // A later web-server shell's finding (same signature, same worker, events
    // in order) proves the daemon evaluated the three before it.
    let marker = run_as("nginx", "exec /bin/sh -c true");
    let seen = daemon.wait_for_stdout(Duration::from_secs(120), |lines| {
        !findings_for(lines, &[shell]).is_empty() && !findings_for(lines, &[marker]).is_empty()
    });
    let stopped = daemon.stop();
    assert!(seen, "no finding for nginx → sh:\n{}", stopped.stderr);
    assert!(stopped.status.success(), "{}", stopped.stderr);

    let findings = findings_for(&stopped.stdout, &pids);
    assert_eq!(findings.len(), 1, "exactly one finding: {findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding["hostProcessId"], shell);
    assert_eq!(finding["processName"], "sh");
    assert_eq!(finding["eventName"], "illegitimate_shell");
    assert_eq!(finding["metadata"]["Properties"]["signatureID"], "TRC-1016");
    assert_eq!(detected_from_arg(finding, "prev_comm").unwrap(), "nginx");
    assert_eq!(detected_from_arg(finding, "cmdpath").unwrap(), "/bin/sh");
    // pathname is the file run, resolved as Tracee resolves it (/bin/sh is a link).
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(
        detected_from_arg(finding, "pathname").unwrap(),
        sh.to_str().unwrap()
    );
    assert!(
        stopped.stderr.contains("0 events dropped in the kernel"),
        "{}",
        stopped.stderr
    );
}

#[test]
fn a_burst_of_execs_is_seen_in_full() {
    const EXECS: usize = 5_000;
    let dir = temp_dir("live-burst");
    std::fs::copy(test_module("exec-echo"), dir.join("exec-echo.wasm")).unwrap();
    let Some(daemon) = start_live(&dir) else {
        return;
    };
    let mut pids = HashSet::with_capacity(EXECS);
    for _ in 0..EXECS {
        let mut child = Command::new("/bin/true").spawn().unwrap();
        pids.insert(child.id());
        child.wait().unwrap();
    }
    let all_seen = daemon.wait_for_stdout(Duration::from_secs(300), |lines| {
        lines.len() >= EXECS && seen_pids(lines, &pids).len() == EXECS
    });
    let stopped = daemon.stop();
    let seen = seen_pids(&stopped.stdout, &pids);
    assert!(
        all_seen && seen.len() == EXECS,
        "{} of {EXECS} execs seen:\n{}",
        seen.len(),
        stopped.stderr
    );
    let summary = stopped
        .stderr
        .lines()
        .find(|l| l.contains("summary:"))
        .expect("a summary");
    assert!(
        summary.contains("0 events dropped in the kernel"),
        "{summary}"
    );
}

fn seen_pids(lines: &[String], wanted: &HashSet<u32>) -> HashSet<u32> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f["processName"] == "true")
        .filter_map(|f| f["hostProcessId"].as_u64().map(|p| p as u32))
        .filter(|p| wanted.contains(p))
        .collect()
}

#[test]
fn without_privileges_run_names_what_is_missing_and_stops() {
    if !is_root() {
        eprintln!("skipped: dropping privileges with setpriv needs root");
        return;
    }
    let dir = signatures_with("live-unprivileged", &["trc-1016"]);
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(sigbox_e2e::sigbox_bin())
        .args(["run", "--signatures", dir.to_str().unwrap()])
        .env("SIGBOX_TRUST", sigbox_e2e::dev_trust())
        .output()
        .expect("running setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("missing capabilities: CAP_BPF, CAP_PERFMON"),
        "{stderr}"
    );
    // It stopped before doing anything else: no signature was loaded.
    assert!(!stderr.contains("loaded signature"), "{stderr}");
}

/// A live finding's `detectedFrom` is Tracee v0.24.1's `sched_process_exec`:
/// id 715, each argument with core.go's type, no `gid`, a boolean
/// `invoked_from_kernel`, and the thread's start time in the context.
#[test]
fn live_finding_has_tracee_v0_24_1_ids_and_types() {
    let dir = signatures_with("live-tracee-shape", &["trc-1016"]);
    let Some(daemon) = start_live(&dir) else {
        return;
    };
    let shell = run_as("nginx", "exec /bin/sh -c true");
    let seen = daemon.wait_for_stdout(Duration::from_secs(120), |lines| {
        !findings_for(lines, &[shell]).is_empty()
    });
    let stopped = daemon.stop();
    assert!(seen, "no finding for nginx → sh:\n{}", stopped.stderr);
    let findings = findings_for(&stopped.stdout, &[shell]);
    let finding = &findings[0];
    let from = &finding["args"][0]["value"];
    assert_eq!(from["id"], 715, "{from}");
    assert_eq!(from["name"], "sched_process_exec");
    // pkg/events/core.go at v0.24.1, SchedProcessExec's fields.
    let tracee_types = [
        ("cmdpath", "string"),
        ("pathname", "string"),
        ("dev", "uint32"),
        ("inode", "uint64"),
        ("ctime", "uint64"),
        ("inode_mode", "uint16"),
        ("interpreter_pathname", "string"),
        ("interpreter_dev", "uint32"),
        ("interpreter_inode", "uint64"),
        ("interpreter_ctime", "uint64"),
        ("argv", "[]string"),
        ("interp", "string"),
        ("stdin_type", "uint16"),
        ("stdin_path", "string"),
        ("invoked_from_kernel", "bool"),
        ("prev_comm", "string"),
        ("env", "[]string"),
        ("pwd", "string"),
    ];
    let args = from["args"].as_array().expect("detectedFrom has args");
    for arg in args {
        let name = arg["name"].as_str().unwrap();
        assert_ne!(name, "gid", "Tracee's exec event has no gid");
        if let Some((_, ty)) = tracee_types.iter().find(|(n, _)| *n == name) {
            assert_eq!(arg["type"], *ty, "type of {name}");
        }
    }
    for required in [
        "cmdpath",
        "pathname",
        "dev",
        "inode",
        "argv",
        "stdin_type",
        "prev_comm",
    ] {
        assert!(
            args.iter().any(|a| a["name"] == required),
            "{required} missing: {args:#?}"
        );
    }
    assert!(
        detected_from_arg(finding, "invoked_from_kernel")
            .unwrap()
            .is_boolean()
    );
    assert!(detected_from_arg(finding, "stdin_type").unwrap().is_u64());
    let timestamp = finding["timestamp"].as_u64().unwrap();
    let started = finding["threadStartTime"].as_u64().unwrap();
    assert!(started > 0, "threadStartTime is set");
    assert!(started <= timestamp, "{started} > {timestamp}");
}

/// `sigbox_finding_latency_seconds`: each live finding's time from its
/// event's kernel timestamp to its line written, as a Prometheus histogram
/// (issue 31 item 4).
#[test]
fn live_finding_latency_is_exported_as_a_histogram() {
    let dir = signatures_with("live-latency", &["trc-1016"]);
    let listen = format!("127.0.0.1:{}", free_port());
    let Some((daemon, _)) = start_live_with(&dir, &["--listen", &listen]) else {
        return;
    };
    let shell = run_as("nginx", "exec /bin/sh -c true");
    let seen = daemon.wait_for_stdout(Duration::from_secs(120), |lines| {
        !findings_for(lines, &[shell]).is_empty()
    });
    assert!(seen, "no finding for nginx → sh");
    // Findings seen before the scrape were recorded before it: the count
    // covers them (other tests' shells may add findings of their own).
    let written = daemon
        .stdout_lines()
        .iter()
        .filter(|line| line.contains("\"detectedFrom\""))
        .count() as f64;
    let metrics = match http_get(&listen, "/metrics") {
        Some((200, body)) => body,
        other => panic!("GET /metrics: {other:?}"),
    };
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let sample =
        |name: &str| metric(&metrics, name).unwrap_or_else(|| panic!("no {name} in:\n{metrics}"));
    let count = sample("sigbox_finding_latency_seconds_count");
    assert!(
        count >= written && count >= 1.0,
        "{count} < {written}:\n{metrics}"
    );
    assert_eq!(
        sample("sigbox_finding_latency_seconds_bucket{le=\"+Inf\"}"),
        count
    );
    let sum = sample("sigbox_finding_latency_seconds_sum");
    // A finding takes some time, and not a minute on average.
    assert!(sum > 0.0 && sum / count < 60.0, "sum {sum}, count {count}");
    // The evaluation histogram's buckets add up to its count too (they
    // were handed to the encoder cumulative, which added them up again).
    assert_eq!(
        sample("sigbox_signature_evaluation_seconds_bucket{le=\"+Inf\",id=\"TRC-1016\"}"),
        sample("sigbox_signature_evaluation_seconds_count{id=\"TRC-1016\"}"),
        "{metrics}"
    );
}
