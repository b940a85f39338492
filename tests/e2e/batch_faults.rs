//! A faulting batch is a fault: modules that trap or spin only when a call
//! holds several events run next to TRC-1016 on one worker, in replay and
//! live. Each batch fault is counted, logged and charged to the module, the
//! module is quarantined, and TRC-1016 still gets every finding.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{
    findings_of, free_port, http_get, json_lines, metric, module, sigbox, summary_of, temp_dir,
    test_module, text,
};

use crate::live::{run_as, start_live_with};

/// The modules under test: they fault on every call of several events and
/// never on a call of one.
const BATCH_FAULTERS: [&str; 2] = ["BATCHFAULT-TRAP", "BATCHFAULT-SPIN"];

/// TRC-1016 and both batch faulters, with a config that quarantines after
/// three faults (so the tests need few events) and gives the spinner 2 ms
/// per event (so its faulted batches, 64 events at up to twice that, do not
/// make the live worker fall behind and drop TRC-1016's events).
fn batch_fault_dir(label: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(label);
    for (from, name) in [
        (module("trc-1016"), "trc-1016.wasm"),
        (test_module("batchfault-trap"), "batchfault-trap.wasm"),
        (test_module("batchfault-spin"), "batchfault-spin.wasm"),
    ] {
        std::fs::copy(from, dir.join(name)).unwrap();
    }
    let config = temp_dir(&format!("{label}-config")).join("sigbox.toml");
    std::fs::write(
        &config,
        "[limits]\nquarantine_after = 3\n[signature.\"BATCHFAULT-SPIN\"]\nlimits = { cpu_ms = 2 }\n",
    )
    .unwrap();
    (dir, config)
}

/// A Tracee exec event: `comm` run by `prev_comm`.
fn exec_line(pid: u64, comm: &str, prev_comm: &str) -> String {
    format!(
        r#"{{"timestamp":{pid},"processId":{pid},"threadId":{pid},"hostProcessId":{pid},"processName":"{comm}","eventId":"710","eventName":"sched_process_exec","args":[{{"name":"pathname","type":"const char*","value":"/bin/{comm}"}},{{"name":"prev_comm","type":"const char*","value":"{prev_comm}"}}]}}"#
    )
}

/// The number just before `marker` in `line`, if `marker` is there.
fn number_before(line: &str, marker: &str) -> Option<u64> {
    let end = line.find(marker)?;
    let start = line[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    line[start..end].parse().ok()
}

/// Each batch faulter's summary counts batch faults of the right kind and
/// a quarantine, and its batch faults were logged.
fn assert_counted_and_quarantined(stderr: &str) {
    for id in BATCH_FAULTERS {
        let summary = summary_of(stderr, id);
        let batch_faults = number_before(summary, " batch faults").unwrap_or(0);
        assert!(batch_faults > 0, "{id} batch faults not counted: {summary}");
        let (kind, count) = if id == "BATCHFAULT-TRAP" {
            ("traps", number_before(summary, " traps").unwrap())
        } else {
            ("limit hits", number_before(summary, " limit hits").unwrap())
        };
        assert!(count >= batch_faults, "{id}: {count} {kind}: {summary}");
        assert!(
            number_before(summary, " quarantines").unwrap() > 0,
            "{id} not quarantined: {summary}"
        );
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("signature={id}"))
                    && l.contains("events faulted (the first: ")),
            "{id}: no batch fault logged:\n{stderr}"
        );
    }
}

#[test]
fn batchfault_modules_faulting_on_every_batch_are_counted_and_quarantined_in_replay() {
    let (dir, config) = batch_fault_dir("batchfault-replay");
    // A file is read far ahead of the worker: it takes full batches.
    let lines: Vec<String> = (1..=2000)
        .map(|pid| {
            if pid % 20 == 0 {
                exec_line(pid, "sh", "nginx")
            } else {
                exec_line(pid, "ls", "bash")
            }
        })
        .collect();
    let input = dir.join("events.jsonl.txt");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--workers",
        "1",
        input.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let findings = json_lines(&out.stdout);
    assert_eq!(findings_of(&findings, "TRC-1016").len(), 100, "{stderr}");
    assert!(
        summary_of(&stderr, "TRC-1016").contains("100 events, 100 findings, 0 errors"),
        "{stderr}"
    );
    assert_counted_and_quarantined(&stderr);
    // The quarantine is reported where findings go.
    for id in BATCH_FAULTERS {
        assert!(
            findings
                .iter()
                .any(|f| f["eventName"] == "sigbox_signature_quarantined"
                    && f["args"].to_string().contains(id)),
            "{id}: no quarantine record"
        );
    }
}

/// Starts `count` copies of /bin/true at once, then waits for them all: a
/// burst the worker takes in batches.
fn exec_burst(count: usize) {
    let children: Vec<_> = (0..count)
        .map(|_| Command::new("/bin/true").spawn().unwrap())
        .collect();
    for mut child in children {
        child.wait().unwrap();
    }
}

/// Whether `lines` hold a quarantine record for `id`.
fn quarantine_recorded(lines: &[String], id: &str) -> bool {
    lines.iter().any(|l| {
        serde_json::from_str::<Value>(l).is_ok_and(|f| {
            f["eventName"] == "sigbox_signature_quarantined" && f["args"].to_string().contains(id)
        })
    })
}

#[test]
fn batchfault_modules_faulting_on_every_batch_are_counted_and_quarantined_live() {
    let (dir, config) = batch_fault_dir("batchfault-live");
    let listen = format!("127.0.0.1:{}", free_port());
    let Some((daemon, _status)) = start_live_with(
        &dir,
        &[
            "--config",
            config.to_str().unwrap(),
            "--workers",
            "1",
            "--listen",
            &listen,
        ],
    ) else {
        return;
    };
    // Bursts of execs until both modules are quarantined, a web server
    // spawning a shell in each.
    let mut shells = Vec::new();
    for _ in 0..500 {
        exec_burst(20);
        shells.push(run_as("nginx", "exec /bin/sh -c true"));
        let lines = daemon.stdout_lines();
        if BATCH_FAULTERS
            .iter()
            .all(|id| quarantine_recorded(&lines, id))
        {
            break;
        }
    }
    let all_found = daemon.wait_for_stdout(Duration::from_secs(300), |lines| {
        shells.iter().all(|pid| {
            lines.iter().any(|l| {
                l.contains(&format!("\"hostProcessId\":{pid},"))
                    && l.contains("\"signatureID\":\"TRC-1016\"")
            })
        })
    });
    let (_, metrics) = http_get(&listen, "/metrics").expect("/metrics answers");
    let stopped = daemon.stop();
    assert!(all_found, "TRC-1016 missed a shell:\n{}", stopped.stderr);
    assert!(stopped.status.success(), "{}", stopped.stderr);
    for id in BATCH_FAULTERS {
        assert!(
            quarantine_recorded(&stopped.stdout, id),
            "{id}: no quarantine record:\n{}",
            stopped.stderr
        );
    }
    assert_counted_and_quarantined(&stopped.stderr);
    // The faulted calls' time is charged to the module: each held at least
    // two events at 2 ms of CPU each.
    let faults = metric(
        &metrics,
        "sigbox_signature_batch_faults_total{id=\"BATCHFAULT-SPIN\"}",
    )
    .unwrap_or_else(|| panic!("no batch fault metric:\n{metrics}"));
    let seconds = metric(
        &metrics,
        "sigbox_signature_evaluation_seconds_sum{id=\"BATCHFAULT-SPIN\"}",
    )
    .unwrap();
    assert!(faults > 0.0, "{metrics}");
    assert!(
        seconds >= faults * 0.004,
        "{seconds} s charged for {faults} faulted batches"
    );
}
