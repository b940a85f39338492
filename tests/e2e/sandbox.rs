//! The hostile-module suite: each module misbehaves next to TRC-1016 on the
//! same event stream. The daemon keeps running, TRC-1016 still produces
//! exactly its findings, the hostile module gets a clear error and the right
//! counters, and nothing it attempted succeeded.

use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{fixture, module, sigbox, temp_dir, test_module, text};

use crate::live::{run_as, start_live};

/// TRC-1016's findings on tests/fixtures/trc-1016-cases.jsonl, by pid.
const TRC_1016_PIDS: [u64; 7] = [4001, 4004, 4005, 4006, 4010, 4014, 4022];
/// sched_process_exec events in that fixture (what a hostile module selects).
const EXEC_EVENTS: u64 = 17;
/// Failures after which a signature is quarantined by default.
const QUARANTINE_AFTER: u64 = 10;

/// What a replay next to TRC-1016 printed.
struct Run {
    findings: Vec<Value>,
    stderr: String,
}

impl Run {
    /// The summary line of signature `id`.
    fn summary_of(&self, id: &str) -> &str {
        sigbox_e2e::summary_of(&self.stderr, id)
    }

    fn findings_of(&self, id: &str) -> Vec<&Value> {
        sigbox_e2e::findings_of(&self.findings, id)
    }
}

/// Replays the TRC-1016 fixture with TRC-1016 and the hostile `name` loaded.
fn replay_next_to_trc_1016(name: &str, extra_args: &[&str]) -> Run {
    let dir = temp_dir(name);
    std::fs::copy(module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    std::fs::copy(test_module(name), dir.join(format!("{name}.wasm"))).unwrap();
    let mut args = vec!["replay", "-s", dir.to_str().unwrap()];
    args.extend_from_slice(extra_args);
    let events = fixture("trc-1016-cases.jsonl");
    args.push(events.to_str().unwrap());
    let out = sigbox(&args);
    let stderr = text(&out.stderr);
    // Exit status 1 says a module failed to load; anything else is a failure.
    let rejected_at_load = stderr.contains("failed to load (see above)");
    assert_eq!(
        out.status.code(),
        Some(if rejected_at_load { 1 } else { 0 }),
        "sigbox failed next to {name}:\n{stderr}"
    );
    let run = Run {
        findings: sigbox_e2e::json_lines(&out.stdout),
        stderr,
    };
    let trc: Vec<u64> = run
        .findings_of("TRC-1016")
        .iter()
        .map(|f| f["processId"].as_u64().unwrap())
        .collect();
    assert_eq!(
        trc, TRC_1016_PIDS,
        "TRC-1016 next to {name}:\n{}",
        run.stderr
    );
    assert!(
        run.summary_of("TRC-1016")
            .contains("9 events, 7 findings, 2 errors (0 traps, 0 limit hits), 0 quarantines"),
        "{}",
        run.summary_of("TRC-1016")
    );
    run
}

/// Checks a hostile module that fails every event it gets with `reason`:
/// quarantined after the default number of failures, counted by kind.
fn assert_quarantined(run: &Run, id: &str, reason: &str, traps: u64, limit_hits: u64) {
    let summary = run.summary_of(id);
    // A fault of a call of several events (when the worker batched them)
    // counts as one fault; its events are evaluated again one per call.
    let batch_faults = number_before(summary, " batch faults").unwrap_or(0);
    let expected = format!(
        "{} events, 0 findings, {QUARANTINE_AFTER} errors ({traps} traps, {limit_hits} limit hits), 1 quarantines, QUARANTINED",
        QUARANTINE_AFTER - batch_faults
    );
    assert!(
        summary.contains(&expected),
        "{id}: expected {expected:?} in {summary:?}"
    );
    let failures: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("signature={id}")) && l.contains("line "))
        .collect();
    assert_eq!(failures.len() as u64, QUARANTINE_AFTER, "{}", run.stderr);
    assert!(
        failures.iter().all(|l| l.contains(reason)),
        "{id}: every failure should say {reason:?}:\n{}",
        failures.join("\n")
    );
    assert!(
        run.stderr.contains(&format!("quarantined signature {id}")),
        "{}",
        run.stderr
    );
    assert!(run.findings_of(id).is_empty());
}

#[test]
fn an_endless_loop_hits_the_cpu_limit() {
    let run = replay_next_to_trc_1016("hostile-loop", &[]);
    assert_quarantined(
        &run,
        "HOSTILE-LOOP",
        "exceeded its cpu limit",
        0,
        QUARANTINE_AFTER,
    );
}

#[test]
fn unbounded_memory_growth_hits_the_memory_limit() {
    let run = replay_next_to_trc_1016("hostile-memory", &["--cpu-limit-ms", "2000"]);
    assert_quarantined(
        &run,
        "HOSTILE-MEMORY",
        "exceeded its memory limit",
        0,
        QUARANTINE_AFTER,
    );
}

#[test]
fn unbounded_recursion_hits_the_stack_limit() {
    let run = replay_next_to_trc_1016("hostile-recurse", &[]);
    assert_quarantined(
        &run,
        "HOSTILE-RECURSE",
        "exceeded its stack limit",
        0,
        QUARANTINE_AFTER,
    );
}

#[test]
fn unreachable_traps_and_the_instance_is_rebuilt() {
    let run = replay_next_to_trc_1016("hostile-unreachable", &[]);
    assert_quarantined(
        &run,
        "HOSTILE-UNREACHABLE",
        "signature trapped",
        QUARANTINE_AFTER,
        0,
    );
    assert!(run.stderr.contains("unreachable"), "{}", run.stderr);
}

#[test]
fn a_panic_traps_and_its_message_reaches_the_log() {
    let run = replay_next_to_trc_1016("hostile-panic", &[]);
    assert_quarantined(
        &run,
        "HOSTILE-PANIC",
        "signature trapped",
        QUARANTINE_AFTER,
        0,
    );
    // The guest's stderr (the panic message) is logged, tagged with its id.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("deliberate panic") && l.contains("HOSTILE-PANIC")),
        "{}",
        run.stderr
    );
}

#[test]
fn huge_results_are_refused_before_the_host_copies_them() {
    // Enough memory and CPU for the 64 MiB string and the million findings to
    // be built, so the host's own result limits are what stops them: both
    // are past the output a call may hand the host (8 MiB + 64 KiB per
    // event by default), so neither is copied out of the guest. (The
    // findings and finding size limits, for output within it, are in the
    // unit tests of `engine::signature`.)
    let run = replay_next_to_trc_1016(
        "hostile-huge",
        &["--cpu-limit-ms", "5000", "--memory-limit-mib", "256"],
    );
    assert_quarantined(&run, "HOSTILE-HUGE", "exceeded its", 0, QUARANTINE_AFTER);
    let output_hits = run
        .stderr
        .lines()
        .filter(|l| l.contains("HOSTILE-HUGE") && l.contains("exceeded its output limit"))
        .count();
    assert!(output_hits >= 2, "{}", run.stderr);
}

#[test]
fn files_network_environment_and_arguments_are_out_of_reach() {
    let run = replay_next_to_trc_1016("hostile-escape", &[]);
    let findings = run.findings_of("HOSTILE-ESCAPE");
    assert_eq!(findings.len() as u64, EXEC_EVENTS);
    for finding in findings {
        let data: std::collections::HashMap<&str, &str> = finding["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["name"] != "detectedFrom")
            .map(|a| (a["name"].as_str().unwrap(), a["value"].as_str().unwrap()))
            .collect();
        for attempt in [
            "read_passwd",
            "tcp_local",
            "tcp_remote",
            "dns",
            "read_dir_root",
        ] {
            let outcome = data
                .get(attempt)
                .unwrap_or_else(|| panic!("{attempt} missing"));
            assert!(outcome.starts_with("denied"), "{attempt}: {outcome}");
        }
        assert_eq!(data["env_count"], "0");
        assert_eq!(data["home"], "none");
        assert_eq!(data["args_count"], "0");
    }
    assert!(run.summary_of("HOSTILE-ESCAPE").contains("0 errors"));
}

#[test]
fn log_floods_are_cut_to_the_budget() {
    let started = std::time::Instant::now();
    let run = replay_next_to_trc_1016("hostile-log", &["--cpu-limit-ms", "5000"]);
    let elapsed = started.elapsed();
    let summary = run.summary_of("HOSTILE-LOG");
    assert!(
        summary.contains("17 events, 0 findings, 0 errors"),
        "{summary}"
    );
    // 17 events × (100,000 × 1 KiB logged + 20,000 stdout/stderr lines):
    // nearly all of it is dropped and counted; the log stays small.
    let dropped: u64 = summary
        .split(", ")
        .find_map(|p| p.strip_suffix(" log bytes dropped"))
        .unwrap_or_else(|| panic!("no dropped count: {summary}"))
        .parse()
        .unwrap();
    assert!(dropped > 1_000_000_000, "{dropped} bytes dropped");
    // The budget is per second: the log may hold one second of burst plus
    // the budget for every second the run took, for HOSTILE-LOG and
    // TRC-1016 (whose error lines go through its budget too), plus the
    // host's own lines (a few KiB).
    const LOG_BUDGET: u64 = 64 << 10;
    let bound = 2 * LOG_BUDGET * (elapsed.as_secs() + 2) + (64 << 10);
    assert!(
        (run.stderr.len() as u64) < bound,
        "the log grew to {} bytes in {elapsed:?} (bound {bound})",
        run.stderr.len()
    );
    assert!(
        run.stderr.contains("over the log budget"),
        "the drop is reported"
    );
    for stream in ["stream=\"log\"", "stream=\"stdout\"", "stream=\"stderr\""] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains("HOSTILE-LOG") && l.contains(stream)),
            "nothing logged from {stream}"
        );
    }
}

#[test]
fn a_signature_whose_init_fails_is_not_loaded() {
    let run = replay_next_to_trc_1016("hostile-init-fails", &[]);
    assert!(
        run.stderr.contains(
            "hostile-init-fails.wasm: signature HOSTILE-INIT-FAILS refused to initialise: refusing to start: test"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("1 signatures loaded, 1 failed to load"));
}

#[test]
fn limits_and_quarantine_come_from_the_config_file() {
    let dir = temp_dir("sandbox-config");
    let config = dir.join("sigbox.toml");
    std::fs::write(
        &config,
        r#"
        [limits]
        quarantine_after = 3
        [signature."HOSTILE-MEMORY"]
        limits = { cpu_ms = 2000, memory_mib = 8 }
        "#,
    )
    .unwrap();
    let run = replay_next_to_trc_1016("hostile-memory", &["--config", config.to_str().unwrap()]);
    let summary = run.summary_of("HOSTILE-MEMORY");
    let batch_faults = number_before(summary, " batch faults").unwrap_or(0);
    assert!(
        summary.contains(&format!(
            "{} events, 0 findings, 3 errors (0 traps, 3 limit hits), 1 quarantines",
            3 - batch_faults
        )),
        "{summary}"
    );
    assert!(
        run.stderr.contains("tried to grow past 8 MiB"),
        "{}",
        run.stderr
    );

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[limits]\ncpu = 5\n").unwrap();
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--config",
        bad.to_str().unwrap(),
        "-",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.toml"),
        "{}",
        text(&out.stderr)
    );
}

/// Capability lines of every thread of `pid`.
fn thread_credentials(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| std::fs::read_to_string(task.unwrap().path().join("status")).unwrap())
        .collect()
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim())
        .unwrap_or_default()
}

#[test]
fn the_live_daemon_drops_every_capability_after_attaching() {
    for user in [None, Some("nobody")] {
        let dir = temp_dir("sandbox-privileges");
        let copy = dir.join("trc-1016.wasm");
        std::fs::copy(module("trc-1016"), &copy).unwrap();
        // Readable by the user the daemon switches to, whatever the umask.
        std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let status_file = dir.join("run/status.json");
        let mut args = vec![
            "run",
            "-s",
            dir.to_str().unwrap(),
            "--status-file",
            status_file.to_str().unwrap(),
        ];
        if let Some(user) = user {
            args.extend(["--user", user]);
        }
        if !sigbox_e2e::is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let daemon = sigbox_e2e::Daemon::start(&args, crate::live::READY);
        let _ = start_live;
        for status in thread_credentials(daemon.pid()) {
            for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"] {
                assert_eq!(field(&status, set), "0000000000000000", "{set} of a thread");
            }
            assert_eq!(field(&status, "NoNewPrivs"), "1");
            if user.is_some() {
                assert!(
                    field(&status, "Uid").starts_with("65534"),
                    "{}",
                    field(&status, "Uid")
                );
            }
        }
        // Detection still works without privileges.
        let pid = run_as("nginx", "exec /bin/sh -c true");
        assert!(
            daemon.wait_for_stdout(Duration::from_secs(120), |lines| lines
                .iter()
                .any(|l| l.contains(&format!("\"hostProcessId\":{pid},")))),
            "no finding after dropping privileges ({user:?}):\n{}",
            daemon.stderr_text()
        );
        // The status file is still written (every second: wait for it).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let listing = sigbox(&["status", "--status-file", status_file.to_str().unwrap()]);
            if text(&listing.stdout).contains("TRC-1016") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}",
                text(&listing.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let stopped = daemon.stop();
        assert!(stopped.status.success(), "{}", stopped.stderr);
    }
}

#[test]
fn a_module_importing_anything_else_is_rejected_naming_the_import() {
    let dir = temp_dir("sandbox-import");
    let evil = wat::parse_str(
        r#"(component (import "evil:net/socket@1.0.0" (instance (export "connect" (func)))))"#,
    )
    .unwrap();
    let path = dir.join("evil.wasm");
    std::fs::write(&path, evil).unwrap();
    let out = sigbox(&["inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("evil.wasm: does not implement the sigbox:signature@0.1.0 world")
            && stderr.contains("imports instance `evil:net/socket@1.0.0`"),
        "{stderr}"
    );
}

/// The number just before `marker` in `line`, if `marker` is there.
fn number_before(line: &str, marker: &str) -> Option<u64> {
    let end = line.find(marker)?;
    let start = line[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    line[start..end].parse().ok()
}
