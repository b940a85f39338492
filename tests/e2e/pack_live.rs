//! The exec signature pack live, for the two detections that need fields
//! only the live source's Tracee-faithful exec events carry: TRC-105 on an
//! `fexecve` of a memfd (pathname `memfd:NAME`), TRC-107 on an exec with
//! `LD_PRELOAD` in its environment (`env`, with `--exec-env`). Needs root.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{Daemon, signatures_with};

use crate::exec_fields::run_from_memfd;
use crate::live::start_live_with;

/// `sigbox run` on `modules` with `extra` options; None when not root.
fn start(modules: &[&str], extra: &[&str]) -> Option<(Daemon, PathBuf)> {
    start_live_with(&signatures_with("pack-live", modules), extra)
}

/// The findings among daemon output `lines` of signature `id` for host pid `pid`.
pub fn findings(lines: &[String], id: &str, pid: u32) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f["metadata"]["Properties"]["signatureID"] == id && f["hostProcessId"] == pid)
        .collect()
}

/// Tracee's TRC-105 trigger: a program run from a memfd.
#[test]
fn trc_105_detects_a_program_run_from_memory() {
    let Some((daemon, _)) = start(&["trc-105"], &[]) else {
        return;
    };
    let fileless = run_from_memfd("trc105-payload");
    let ordinary = crate::exec_fields::run(&mut Command::new("/usr/bin/true"));
    let seen = daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
        !findings(lines, "TRC-105", fileless.pid).is_empty()
    });
    let stopped = daemon.stop();
    assert!(seen, "no TRC-105 finding:\n{}", stopped.stderr);
    let found = findings(&stopped.stdout, "TRC-105", fileless.pid);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["eventName"], "fileless_execution");
    let from = &found[0]["args"][0]["value"]["args"];
    let pathname = from
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "pathname")
        .unwrap();
    assert_eq!(pathname["value"], "memfd:trc105-payload");
    assert!(findings(&stopped.stdout, "TRC-105", ordinary).is_empty());
}

/// Tracee's TRC-107 exec branch: a program started with LD_PRELOAD set.
/// Without `--exec-env` the daemon says TRC-107 cannot see it.
#[test]
fn trc_107_detects_ld_preload_with_exec_env_and_warns_without() {
    let Some((daemon, _)) = start(&["trc-107"], &["--exec-env"]) else {
        return;
    };
    let preloaded = crate::exec_fields::run(
        Command::new("/usr/bin/true")
            .env_clear()
            .env("LD_PRELOAD", "/nonexistent/sigbox-e2e.so"),
    );
    let plain = crate::exec_fields::run(Command::new("/usr/bin/true").env_clear());
    let seen = daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
        !findings(lines, "TRC-107", preloaded).is_empty()
    });
    let stopped = daemon.stop();
    assert!(seen, "no TRC-107 finding:\n{}", stopped.stderr);
    let found = findings(&stopped.stdout, "TRC-107", preloaded);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["eventName"], "ld_preload");
    assert!(findings(&stopped.stdout, "TRC-107", plain).is_empty());
    assert!(
        !stopped.stderr.contains("does not collect"),
        "{}",
        stopped.stderr
    );

    // Without --exec-env: warned at load, listed in the status file.
    let Some((daemon, status)) = start(&["trc-107"], &[]) else {
        return;
    };
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(10), "reads `env`"),
        "no warning that TRC-107 reads env:\n{}",
        daemon.stderr_text()
    );
    let warning = daemon
        .stderr_text()
        .lines()
        .find(|l| l.contains("reads `env`"))
        .unwrap()
        .to_owned();
    assert!(
        warning.contains("TRC-107") && warning.contains("--exec-env"),
        "{warning}"
    );
    // The status file is written just after the signatures load.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        match std::fs::read_to_string(&status) {
            Ok(text) if text.contains("TRC-107") => break text,
            _ if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => panic!("status file {}: {other:?}", status.display()),
        }
    };
    let listed: Value = serde_json::from_str(&text).unwrap();
    let trc_107 = listed["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "TRC-107")
        .unwrap_or_else(|| panic!("TRC-107 not in {text}"));
    assert_eq!(trc_107["withheldFields"], serde_json::json!(["env"]));
    assert!(daemon.stop().status.success());
}
