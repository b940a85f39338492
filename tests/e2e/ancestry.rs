//! The process tree, live: SIGBOX-1016A finds a shell below a web server
//! anywhere in its ancestry, an ancestor that exited before its
//! descendant's exec is still in the chain, and a fork storm past a small
//! `--process-tree-max` stays within it (evictions counted). Needs root.
//!
//! Other tests run beside these and the daemon sees every exec on the
//! machine: each case's shell writes its own pid to a file, and only
//! findings for those pids are looked at.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{
    Daemon, dir_with, free_port, http_get, metric, sigbox, signatures_dir, signatures_with,
    temp_dir, test_module, text,
};

use crate::live::{spawn_fresh_copy, start_live_with};

const ID: &str = "SIGBOX-1016A";
const WAIT: Duration = Duration::from_secs(120);

/// Starts the daemon with SIGBOX-1016A and waits until it runs.
fn start(extra: &[&str]) -> Option<Daemon> {
    let dir = signatures_with("ancestry", &["sigbox-1016a"]);
    let (daemon, _) = start_live_with(&dir, extra)?;
    assert!(
        daemon.wait_for_stderr(WAIT, &format!("loaded signature {ID}")),
        "{}",
        daemon.stderr_text()
    );
    Some(daemon)
}

/// Runs a copy of /bin/sh named `comm` with `-c script`, `$OUT` set to a
/// fresh file; returns that file, where the script's last shell writes its
/// pid (`echo $$ > "$OUT"`).
fn run_chain(comm: &str, script: &str) -> PathBuf {
    let dir = temp_dir("ancestry");
    let program = dir.join(comm);
    std::fs::copy("/bin/sh", &program).unwrap();
    let out = dir.join("pid");
    let mut child = spawn_fresh_copy(Command::new(&program).args(["-c", script]).env("OUT", &out));
    assert!(
        child.wait().unwrap().success(),
        "{comm} -c {script:?} failed"
    );
    out
}

/// The pid a chain's last shell wrote (waiting for a shell run in the
/// background to write it).
fn pid_in(file: &Path) -> u32 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(pid) = std::fs::read_to_string(file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never written",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `nginx → sh -c → bash`: the bash writes its pid.
const NGINX_SH_BASH: &str = r#"/bin/sh -c '/bin/bash -c "echo \$\$ > \"\$OUT\""; true'; true"#;

/// SIGBOX-1016A's findings for `pid`.
fn findings_for(lines: &[String], pid: u32) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f["metadata"]["Properties"]["signatureID"] == ID && f["hostProcessId"] == pid)
        .collect()
}

/// The finding's `ancestors` datum, as names.
fn ancestors(finding: &Value) -> Vec<String> {
    let datum = finding["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == "ancestors"))
        .unwrap_or_else(|| panic!("no ancestors datum: {finding:#}"));
    datum["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

fn wait_for_finding(daemon: &Daemon, pid: u32) -> Value {
    let seen = daemon.wait_for_stdout(WAIT, |lines| !findings_for(lines, pid).is_empty());
    assert!(seen, "no finding for pid {pid}:\n{}", daemon.stderr_text());
    findings_for(&daemon.stdout_lines(), pid).remove(0)
}

#[test]
fn a_shell_below_a_web_server_is_found_anywhere_in_its_ancestry() {
    let Some(daemon) = start(&[]) else {
        return;
    };
    let via_shell = pid_in(&run_chain("nginx", NGINX_SH_BASH));
    let via_python = pid_in(&run_chain(
        "nginx",
        r#"python3 -c 'import subprocess; subprocess.run(["/bin/sh", "-c", "echo $$ > \"$OUT\""], check=True)'; true"#,
    ));
    let sshd = pid_in(&run_chain(
        "sshd",
        r#"/bin/bash -c "echo \$\$ > \"\$OUT\""; true"#,
    ));
    // Events reach the one signature in order: a later chain's finding
    // proves the sshd case was evaluated before it.
    let marker = pid_in(&run_chain("nginx", NGINX_SH_BASH));

    let shell_finding = wait_for_finding(&daemon, via_shell);
    let python_finding = wait_for_finding(&daemon, via_python);
    wait_for_finding(&daemon, marker);
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(
        findings_for(&stopped.stdout, sshd).is_empty(),
        "sshd → bash is no web server"
    );

    assert_eq!(shell_finding["processName"], "bash");
    assert_eq!(ancestors(&shell_finding)[..2], ["sh", "nginx"]);
    assert_eq!(python_finding["processName"], "sh");
    assert_eq!(ancestors(&python_finding)[..2], ["python3", "nginx"]);
    // Tracee's entity ids are filled in.
    assert_ne!(shell_finding["processEntityId"], 0, "{shell_finding:#}");
    assert_ne!(shell_finding["parentEntityId"], 0, "{shell_finding:#}");
    // TRC-1016 would have missed both: the name before each exec was no
    // web server.
    for finding in [&shell_finding, &python_finding] {
        let prev = finding["args"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "detectedFrom")
            .unwrap()["value"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "prev_comm")
            .unwrap()["value"]
            .clone();
        assert_ne!(prev, "nginx", "{finding:#}");
    }
}

#[test]
fn an_ancestor_that_exited_before_the_exec_is_still_in_the_chain() {
    let Some(daemon) = start(&[]) else {
        return;
    };
    // The middle shell starts a background subshell and exits at once (as
    // does nginx); the subshell execs bash only once its sleep is over,
    // when both of its ancestors are gone from /proc.
    let out = run_chain(
        "nginx",
        r#"/bin/sh -c '(sleep 0.2; exec /bin/bash -c "echo \$\$ > \"\$OUT\"") &'; true"#,
    );
    let bash = pid_in(&out);
    let finding = wait_for_finding(&daemon, bash);
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert_eq!(ancestors(&finding)[..2], ["sh", "nginx"], "{finding:#}");
}

#[test]
fn a_fork_storm_past_the_bound_keeps_the_tree_bounded_and_counts_evictions() {
    let listen = format!("127.0.0.1:{}", free_port());
    let Some(daemon) = start(&["--process-tree-max", "256", "--listen", &listen]) else {
        return;
    };
    let scrape = || {
        let (status, body) = http_get(&listen, "/metrics").expect("/metrics answers");
        assert_eq!(status, 200, "{body}");
        let read = |sample| metric(&body, sample).unwrap_or_else(|| panic!("{sample}:\n{body}"));
        (
            read("sigbox_process_tree_processes"),
            read("sigbox_process_tree_evictions_total"),
        )
    };
    let (_, evicted_before) = scrape();
    let storm = Command::new("/bin/sh")
        .args([
            "-c",
            "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done",
        ])
        .status()
        .unwrap();
    assert!(storm.success());
    // A chain after the storm: its finding proves the daemon read the
    // storm's records, and that a recent chain survives the evictions.
    let marker = pid_in(&run_chain("nginx", NGINX_SH_BASH));
    let finding = wait_for_finding(&daemon, marker);
    assert_eq!(ancestors(&finding)[..2], ["sh", "nginx"]);
    let (held, evicted_after) = scrape();
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(held <= 256.0, "the tree holds {held} processes");
    assert!(
        evicted_after >= evicted_before + 1000.0 - 256.0,
        "evictions {evicted_before} → {evicted_after}"
    );
    assert_eq!(
        stopped.stderr.matches("the process tree is full").count(),
        1,
        "logged once:\n{}",
        stopped.stderr
    );
}

/// The `chain` datum of a TEST-ANCESTRY-ECHO (JSON) or TEST-ANCESTRY-PY
/// (JSON text) finding.
fn chain(finding: &Value) -> Vec<Value> {
    let datum = &finding["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == "chain"))
        .unwrap_or_else(|| panic!("no chain datum: {finding:#}"))["value"];
    let list = match datum {
        Value::String(json) => serde_json::from_str(json).unwrap(),
        other => other.clone(),
    };
    list.as_array()
        .unwrap_or_else(|| panic!("chain is no list: {finding:#}"))
        .clone()
}

/// Findings of `id` whose chain has `top` as the grandparent.
fn chains_below(lines: &[String], id: &str, top: u32) -> Vec<(Value, Vec<Value>)> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f["metadata"]["Properties"]["signatureID"] == id)
        .map(|f| {
            let chain = chain(&f);
            (f, chain)
        })
        .filter(|(_, chain)| chain.get(1).is_some_and(|a| a["hostPid"] == top))
        .collect()
}

#[test]
fn the_ancestors_host_call_gives_rust_and_python_signatures_the_whole_chain() {
    const RUST: &str = "TEST-ANCESTRY-ECHO";
    const PYTHON: &str = "TEST-ANCESTRY-PY";
    let dir = dir_with(
        "ancestry-call",
        &[test_module("ancestry-echo"), test_module("ancestry-py")],
    );
    let Some((daemon, _)) = start_live_with(&dir, &[]) else {
        return;
    };
    for id in [RUST, PYTHON] {
        assert!(
            daemon.wait_for_stderr(WAIT, &format!("loaded signature {id}")),
            "{}",
            daemon.stderr_text()
        );
    }
    // ancestry-top → sh → exec of true: true's grandparent is the top.
    let top_dir = temp_dir("ancestry-top");
    let top = top_dir.join("ancestry-top");
    std::fs::copy("/bin/sh", &top).unwrap();
    let mut child =
        spawn_fresh_copy(Command::new(&top).args(["-c", "/bin/sh -c '/bin/true; true'; true"]));
    let top_pid = child.id();
    assert!(child.wait().unwrap().success());

    let seen = daemon.wait_for_stdout(WAIT, |lines| {
        [RUST, PYTHON]
            .iter()
            .all(|id| !chains_below(lines, id, top_pid).is_empty())
    });
    assert!(
        seen,
        "no finding below {top_pid}:\n{}",
        daemon.stderr_text()
    );
    let lines = daemon.stdout_lines();
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let (rust_finding, rust_chain) = chains_below(&lines, RUST, top_pid).remove(0);
    let (python_finding, python_chain) = chains_below(&lines, PYTHON, top_pid).remove(0);
    assert_eq!(rust_chain, python_chain, "both SDKs see the same chain");
    assert_eq!(rust_finding["processName"], "true");
    assert_eq!(
        python_finding["hostProcessId"],
        rust_finding["hostProcessId"]
    );
    let (sh, top_entry) = (&rust_chain[0], &rust_chain[1]);
    assert_eq!(sh["processName"], "sh", "{rust_chain:#?}");
    assert_eq!(sh["hostPid"], rust_finding["hostParentProcessId"]);
    assert_eq!(
        sh["entityId"], rust_finding["parentEntityId"],
        "the parent's entity id is the finding's parentEntityId"
    );
    assert_eq!(top_entry["processName"], "ancestry-top");
    assert_eq!(top_entry["executablePath"], top.to_str().unwrap());
    for ancestor in [sh, top_entry] {
        assert_eq!(ancestor["uid"], uid, "{ancestor}");
        assert_eq!(ancestor["pid"], ancestor["hostPid"], "host pid namespace");
        assert_eq!(ancestor["containerId"], "", "{ancestor}");
        assert!(ancestor["startNs"].as_u64().unwrap() > 0, "{ancestor}");
        assert_ne!(ancestor["entityId"], 0, "{ancestor}");
    }
    assert!(
        sh["startNs"].as_u64() > top_entry["startNs"].as_u64(),
        "{rust_chain:#?}"
    );
    assert_eq!(sh["exitNs"], 0, "sh waits for true: still running");
}

#[test]
fn a_millisecond_lived_intermediate_is_in_the_chain_with_its_exit_time() {
    const RUST: &str = "TEST-ANCESTRY-ECHO";
    let dir = dir_with("ancestry-brief", &[test_module("ancestry-echo")]);
    let Some((daemon, _)) = start_live_with(&dir, &[]) else {
        return;
    };
    assert!(
        daemon.wait_for_stderr(WAIT, &format!("loaded signature {RUST}")),
        "{}",
        daemon.stderr_text()
    );
    // ancestry-top → sh, which forks a subshell and exits at once (it
    // lives about a millisecond); the subshell waits for its sleep, then
    // execs true, whose parent and grandparent have both exited by then.
    let top_dir = temp_dir("ancestry-top");
    let top = top_dir.join("ancestry-top");
    std::fs::copy("/bin/sh", &top).unwrap();
    let mut child = spawn_fresh_copy(
        Command::new(&top).args(["-c", "/bin/sh -c '(sleep 0.2; exec /bin/true) &'; true"]),
    );
    let top_pid = child.id();
    assert!(child.wait().unwrap().success());

    let seen = daemon.wait_for_stdout(WAIT, |lines| !chains_below(lines, RUST, top_pid).is_empty());
    assert!(
        seen,
        "no finding below {top_pid}:\n{}",
        daemon.stderr_text()
    );
    let (finding, chain) = chains_below(&daemon.stdout_lines(), RUST, top_pid).remove(0);
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let brief = &chain[0];
    assert_eq!(brief["processName"], "sh", "{chain:#?}");
    let (start, exit) = (
        brief["startNs"].as_u64().unwrap(),
        brief["exitNs"].as_u64().unwrap(),
    );
    let exec_time = finding["timestamp"].as_u64().unwrap();
    assert!(
        start < exit && exit < exec_time,
        "the sh exited before its child's exec: {chain:#?}, exec at {exec_time}"
    );
    assert_ne!(chain[1]["exitNs"], 0, "ancestry-top exited too: {chain:#?}");
    assert_ne!(
        finding["hostParentProcessId"], brief["hostPid"],
        "the exec's current parent is a reaper, the chain keeps the forker"
    );
}

#[test]
fn sigbox_test_vectors_give_the_host_call_their_ancestors() {
    let vectors = temp_dir("ancestry-vectors").join("chain.jsonl");
    std::fs::write(
        &vectors,
        concat!(
            r#"{"case":"two ancestors","event":{"processName":"true","eventName":"sched_process_exec"},"#,
            r#""ancestors":[{"processName":"sh","executablePath":"/bin/sh","hostPid":70,"pid":7,"entityId":3,"uid":1000,"startNs":5,"exitNs":6,"containerId":"c0ffee"},{"processName":"ancestry-top"}],"#,
            r#""expect":{"findings":[{"chain":[{"pid":7,"hostPid":70,"entityId":3,"processName":"sh","executablePath":"/bin/sh","uid":1000,"startNs":5,"exitNs":6,"containerId":"c0ffee"},{"pid":0,"hostPid":0,"entityId":0,"processName":"ancestry-top","executablePath":"","uid":0,"startNs":0,"exitNs":0,"containerId":""}]}]}}"#,
            "\n",
            r#"{"case":"no ancestry: the selector's ancestor filter does not pass","event":{"processName":"true","eventName":"sched_process_exec"},"expect":"none"}"#,
            "\n"
        ),
    )
    .unwrap();
    let wasm = test_module("ancestry-echo");
    let out = sigbox(&["test", wasm.to_str().unwrap(), vectors.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
}

#[test]
fn sigbox_1016a_ships_in_the_default_set_beside_trc_1016() {
    // `make` builds every signature crate outside test-signatures/ into
    // target/signatures, which `make run` loads and `make install` installs.
    for name in ["trc-1016", "sigbox-1016a"] {
        let module = signatures_dir().join(format!("{name}.wasm"));
        assert!(module.is_file(), "{} is missing", module.display());
    }
}
