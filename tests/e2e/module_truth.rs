//! What the daemon says about a module file is the truth about that file:
//! a module still being copied in is no verdict (it loads once complete),
//! one left cut short is reported as truncated, not as tampering; after a
//! rejected update, status, metrics and the record say the file holds the
//! rejected version; per-signature counters survive a hot swap.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{
    Daemon, findings_of, free_port, http_get, metric, module, sha256_hex, temp_dir, test_module,
};

use crate::live::{run_as, start_live_with};

/// The log line replay prints once it watches the directory.
const WATCHING: &str = "for signature changes";

fn run(args: &[&str]) -> (bool, String) {
    let out = sigbox_e2e::sigbox(args);
    (
        out.status.success(),
        format!(
            "{}{}",
            sigbox_e2e::text(&out.stdout),
            sigbox_e2e::text(&out.stderr)
        ),
    )
}

/// A key pair `team` under a new directory and a policy trusting it.
fn team_policy(label: &str) -> (PathBuf, String) {
    let dir = temp_dir(label);
    assert!(run(&["keygen", dir.join("team").to_str().unwrap()]).0);
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\n",
    )
    .unwrap();
    (dir, policy.to_str().unwrap().to_owned())
}

/// `bytes` signed with `keys/team.key`, written to `to`.
fn signed(bytes: &[u8], keys: &Path, to: &Path) -> Vec<u8> {
    std::fs::write(to, bytes).unwrap();
    let key = keys.join("team.key");
    let (ok, out) = run(&["sign", "--key", key.to_str().unwrap(), to.to_str().unwrap()]);
    assert!(ok, "{out}");
    std::fs::read(to).unwrap()
}

/// Built module `name` with a custom section of `mib` MiB appended, as
/// large as a Python signature (custom sections do not change behaviour).
fn padded(name: &str, mib: usize) -> Vec<u8> {
    let mut bytes = std::fs::read(module(name)).unwrap();
    let label = b"sigbox-e2e-padding";
    let mut payload = vec![label.len() as u8];
    payload.extend_from_slice(label);
    payload.resize(payload.len() + (mib << 20), 0x5a);
    bytes.push(0);
    let mut size = payload.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes.extend(payload);
    bytes
}

/// A Tracee exec event TRC-1016 fires on (a web server running a shell).
fn web_server_shell(pid: u64) -> String {
    format!(
        r#"{{"timestamp":{pid},"processId":{pid},"threadId":{pid},"hostProcessId":{pid},"processName":"sh","eventId":"710","eventName":"sched_process_exec","args":[{{"name":"pathname","type":"const char*","value":"/bin/sh"}},{{"name":"argv","type":"const char**","value":["sh","-c","id"]}},{{"name":"prev_comm","type":"const char*","value":"nginx"}}]}}"#
    )
}

fn records(lines: &[String], event_name: &str) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["eventName"] == event_name)
        .collect()
}

fn arg<'a>(record: &'a Value, name: &str) -> &'a str {
    record["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == name))
        .and_then(|a| a["value"].as_str())
        .unwrap_or_default()
}

fn findings(lines: &[String], id: &str) -> usize {
    let parsed: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    findings_of(&parsed, id).len()
}

/// A plain, slow `cp` of the 18 MB Python TRC-1016, signed, into the
/// watched directory (chunks with pauses longer than the watcher's
/// debounce, so the daemon scans it half-written several times) is not
/// reported as rejected: it loads once complete. A copy left cut short is
/// reported as truncated.
#[test]
fn a_module_copied_in_slowly_loads_and_one_left_cut_short_is_truncated() {
    let (keys, policy) = team_policy("truth-copy-keys");
    let staging = temp_dir("truth-copy-staging");
    let dir = temp_dir("truth-copy");
    let trc_105 = std::fs::read(module("trc-105")).unwrap();
    signed(&trc_105, &keys, &dir.join("trc-105.wasm"));
    let python = std::fs::read(test_module("trc-1016-py")).unwrap();
    let big = signed(&python, &keys, &staging.join("big.wasm"));
    let mut command = sigbox_e2e::sigbox_command(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--trust",
        &policy,
        "-",
    ]);
    // The debug line saying a half-written file was put off proves the
    // daemon did look at it mid-copy.
    command.env("RUST_LOG", "sigbox=debug");
    let (daemon, mut stdin) = Daemon::start_piped_command(command, WATCHING);

    let target = dir.join("trc-1016-py.wasm");
    let mut file = std::fs::File::create(&target).unwrap();
    for chunk in big.chunks(big.len().div_ceil(8)) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(file);
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(300), "loaded signature TRC-1016-PY"),
        "{}",
        daemon.stderr_text()
    );
    // Past the load: an event TRC-1016 fires on gives its finding, so every
    // record about the copy has been written before it.
    writeln!(stdin, "{}", web_server_shell(4242)).unwrap();
    stdin.flush().unwrap();
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(60), |l| findings(l, "TRC-1016-PY") == 1),
        "{}",
        daemon.stderr_text()
    );
    let log = daemon.stderr_text();
    assert!(
        log.contains("still being written"),
        "never seen mid-copy:\n{log}"
    );
    let stdout = daemon.stdout_lines();
    assert!(
        records(&stdout, "sigbox_module_rejected").is_empty(),
        "{stdout:?}\n{log}"
    );
    assert!(!log.contains("rejected signature"), "{log}");

    // A copy that stops halfway for good: reported once quiet, as truncated.
    let cut = dir.join("cut.wasm");
    std::fs::write(&cut, &big[..big.len() / 2]).unwrap();
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(120), |l| {
            !records(l, "sigbox_module_rejected").is_empty()
        }),
        "{}",
        daemon.stderr_text()
    );
    let record = &records(&daemon.stdout_lines(), "sigbox_module_rejected")[0];
    let reason = arg(record, "reason");
    assert_eq!(arg(record, "file"), cut.to_str().unwrap(), "{record}");
    assert!(reason.contains("truncated"), "{reason}");
    assert!(
        !reason.contains("trust policy") && !reason.contains("modified"),
        "{reason}"
    );
    drop(stdin);
    let stopped = daemon.wait();
    assert!(stopped.stderr.contains("summary"), "{}", stopped.stderr);
}

fn scrape(listen: &str) -> String {
    let (status, body) = http_get(listen, "/metrics").expect("scraping /metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits for a live TRC-1016 finding for a fresh web-server shell exec: the
/// marker that the daemon is past everything before it.
fn detects(daemon: &Daemon) {
    let pid = run_as("nginx", "exec /bin/sh -c true");
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
            !crate::pack_live::findings(lines, "TRC-1016", pid).is_empty()
        }),
        "no live finding for pid {pid}:\n{}",
        daemon.stderr_text()
    );
}

/// After a refused update of a running signature, the file holds bytes that
/// do not run: the rejection record, `sigbox status` and `/metrics` say so
/// (a restart would drop the signature), until the file holds what runs.
#[test]
fn after_a_rejected_update_status_metrics_and_the_record_say_what_the_file_holds() {
    let (keys, policy) = team_policy("truth-status-keys");
    let dir = temp_dir("truth-status");
    let trc_1016 = std::fs::read(module("trc-1016")).unwrap();
    let good = signed(
        &trc_1016,
        &keys,
        &temp_dir("truth-status-v1").join("v1.wasm"),
    );
    std::fs::write(dir.join("trc-1016.wasm"), &good).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let Some((daemon, status_file)) =
        start_live_with(&dir, &["--trust", &policy, "--listen", &listen])
    else {
        return;
    };
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "loaded signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    let status = || {
        let (ok, out) = run(&["status", "--status-file", status_file.to_str().unwrap()]);
        assert!(ok, "{out}");
        out
    };
    let file_rejected = |metrics: &str| {
        metric(
            metrics,
            &format!(
                "sigbox_signature_file_rejected{{id=\"TRC-1016\",file=\"{}\"}}",
                dir.join("trc-1016.wasm").display()
            ),
        )
    };
    assert_eq!(file_rejected(&scrape(&listen)), Some(0.0));

    // make's development key is not in this policy: refused; the file now
    // holds the refused bytes (written atomically, as a deploy would).
    let forged = std::fs::read(module("trc-1016")).unwrap();
    let forged_sha = sha256_hex(&forged);
    let temp = dir.join(".trc-1016.wasm.tmp");
    std::fs::write(&temp, &forged).unwrap();
    std::fs::rename(&temp, dir.join("trc-1016.wasm")).unwrap();
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(120), |l| {
            !records(l, "sigbox_signature_update_rejected").is_empty()
        }),
        "{}",
        daemon.stderr_text()
    );
    let record = &records(&daemon.stdout_lines(), "sigbox_signature_update_rejected")[0];
    assert_eq!(arg(record, "fileSha256"), forged_sha, "{record}");
    assert!(
        arg(record, "fileState").contains("a restart would not load it"),
        "{record}"
    );
    detects(&daemon);
    // The status file is rewritten within a second of a change.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut shown = status();
    while !shown.contains("a restart would not load it") {
        assert!(std::time::Instant::now() < deadline, "{shown}");
        std::thread::sleep(Duration::from_millis(200));
        shown = status();
    }
    assert!(
        shown.contains(&format!(
            "the file now holds a rejected version (sha256 {forged_sha})"
        )),
        "{shown}"
    );
    assert_eq!(file_rejected(&scrape(&listen)), Some(1.0));

    // The running version's bytes put back: the file is what runs again.
    let temp = dir.join(".trc-1016.wasm.tmp");
    std::fs::write(&temp, &good).unwrap();
    std::fs::rename(&temp, dir.join("trc-1016.wasm")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while file_rejected(&scrape(&listen)) != Some(0.0) {
        assert!(std::time::Instant::now() < deadline, "{}", scrape(&listen));
        std::thread::sleep(Duration::from_millis(200));
    }
    detects(&daemon);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while status().contains("rejected version") {
        assert!(std::time::Instant::now() < deadline, "{}", status());
        std::thread::sleep(Duration::from_millis(200));
    }
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// Prometheus counters are monotonic per label set: a hot swap of TRC-1016
/// to a new build keeps counting from where the old version stopped.
#[test]
fn per_signature_counters_keep_counting_across_a_hot_swap() {
    let (keys, policy) = team_policy("truth-counters-keys");
    let dir = temp_dir("truth-counters");
    let staging = temp_dir("truth-counters-staging");
    let trc_1016 = std::fs::read(module("trc-1016")).unwrap();
    signed(&trc_1016, &keys, &dir.join("trc-1016.wasm"));
    let listen = format!("127.0.0.1:{}", free_port());
    let Some((daemon, _)) = start_live_with(&dir, &["--trust", &policy, "--listen", &listen])
    else {
        return;
    };
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "loaded signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    detects(&daemon);
    detects(&daemon);
    let findings_total = |metrics: &str| {
        metric(metrics, "sigbox_signature_findings_total{id=\"TRC-1016\"}").unwrap_or(0.0)
    };
    let events_total = |metrics: &str| {
        metric(metrics, "sigbox_signature_events_total{id=\"TRC-1016\"}").unwrap_or(0.0)
    };
    let before = scrape(&listen);
    assert!(findings_total(&before) >= 2.0, "{before}");

    // A new build: different bytes (a padding section), same signature.
    let v2 = signed(&padded("trc-1016", 1), &keys, &staging.join("v2.wasm"));
    let temp = dir.join(".trc-1016.wasm.tmp");
    std::fs::write(&temp, &v2).unwrap();
    std::fs::rename(&temp, dir.join("trc-1016.wasm")).unwrap();
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "replaced signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    let swapped = scrape(&listen);
    assert!(
        findings_total(&swapped) >= findings_total(&before),
        "findings went back: {} then {}",
        findings_total(&before),
        findings_total(&swapped)
    );
    assert!(events_total(&swapped) >= events_total(&before), "{swapped}");
    detects(&daemon);
    let after = scrape(&listen);
    assert!(
        findings_total(&after) > findings_total(&before),
        "{before}\n{after}"
    );
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}
