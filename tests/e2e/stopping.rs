//! Stopping is prompt: SIGTERM ends `sigbox run` and `sigbox replay` soon,
//! with the summary, while a slow signature (each event costs it tens of
//! milliseconds, within its limit) still has thousands of events queued;
//! what the stop left unevaluated is counted per signature.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use sigbox_e2e::{Daemon, Stopped, module, summary_of, temp_dir, test_module};

use crate::live::{run_as, start_live_with};

/// How long the daemon may take to exit after SIGTERM in these tests:
/// draining their queues would take minutes (thousands of events at tens
/// of milliseconds each), while the stop waits one second of grace and the
/// guest call in flight.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

/// TRC-1016 (loaded first: its findings for a batch come before the slow
/// signature's turn) and TEST-SLOW-EXEC, slow but within its limit.
fn slow_dir(label: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = temp_dir(label);
    std::fs::copy(module("trc-1016"), dir.join("a-trc-1016.wasm")).unwrap();
    std::fs::copy(test_module("slow-exec"), dir.join("slow-exec.wasm")).unwrap();
    let config = temp_dir(&format!("{label}-config")).join("sigbox.toml");
    std::fs::write(
        &config,
        "[signature.\"TEST-SLOW-EXEC\"]\nlimits = { cpu_ms = 2000 }\nconfig = { spin = 40000000 }\n",
    )
    .unwrap();
    (dir, config)
}

/// The number just before `marker` in `line`, if `marker` is there.
fn number_before(line: &str, marker: &str) -> Option<u64> {
    let end = line.find(marker)?;
    let start = line[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    line[start..end].parse().ok()
}

/// SIGTERM, then the exit within [`EXIT_WITHIN`] with a summary that counts
/// what was left: every event the slow signature was handed is evaluated,
/// dropped (live) or counted as not evaluated.
fn terminate_and_check(daemon: Daemon) -> Stopped {
    daemon.signal("TERM");
    let signalled = Instant::now();
    let stopped = match daemon.wait_within(EXIT_WITHIN) {
        Ok(stopped) => stopped,
        Err(daemon) => panic!(
            "still running {EXIT_WITHIN:?} after SIGTERM:\n{}",
            daemon.stderr_text()
        ),
    };
    eprintln!("exited {:?} after SIGTERM", signalled.elapsed());
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let summary = stopped
        .stderr
        .lines()
        .find(|l| l.starts_with("sigbox: summary"))
        .unwrap_or_else(|| panic!("no summary:\n{}", stopped.stderr));
    let left = number_before(summary, " queued evaluations left undone")
        .unwrap_or_else(|| panic!("the summary does not count what was left: {summary}"));
    assert!(left > 0, "{summary}");
    let events = number_before(summary, " events,").unwrap();
    let slow = summary_of(&stopped.stderr, "TEST-SLOW-EXEC");
    let evaluated = number_before(slow, " events,").unwrap();
    let unevaluated = number_before(slow, " events not evaluated (stopped first)").unwrap();
    let dropped = number_before(slow, " events dropped").unwrap_or(0);
    assert_eq!(
        evaluated + unevaluated + dropped,
        events,
        "{slow} / {summary}"
    );
    // The total is every signature's: TRC-1016 may also have had events
    // queued when the stop came (those the stop read from the kernel).
    let trc_1016 = summary_of(&stopped.stderr, "TRC-1016");
    let unevaluated_1016 =
        number_before(trc_1016, " events not evaluated (stopped first)").unwrap_or(0);
    assert_eq!(unevaluated + unevaluated_1016, left, "{summary}");
    stopped
}

#[test]
fn sigterm_ends_replay_promptly_with_the_summary_counting_what_was_left() {
    let (dir, config) = slow_dir("stop-replay");
    // stdin: a stream, whose findings are written at once.
    let (daemon, mut stdin) = Daemon::start_piped(
        &[
            "replay",
            "-s",
            dir.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--workers",
            "1",
        ],
        "for signature changes",
    );
    let writer = std::thread::spawn(move || {
        for pid in 1..=5000u64 {
            let (comm, prev) = if pid == 1 {
                ("sh", "nginx")
            } else {
                ("ls", "bash")
            };
            let line = format!(
                r#"{{"timestamp":{pid},"processId":{pid},"hostProcessId":{pid},"processName":"{comm}","eventName":"sched_process_exec","args":[{{"name":"prev_comm","type":"const char*","value":"{prev}"}}]}}"#
            );
            // The daemon stops reading once stopped: the pipe breaks.
            if writeln!(stdin, "{line}").is_err() {
                return;
            }
        }
    });
    // TRC-1016's finding for the first event: the worker is at work.
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(300), |lines| {
            lines
                .iter()
                .any(|l| l.contains("\"signatureID\":\"TRC-1016\""))
        }),
        "{}",
        daemon.stderr_text()
    );
    let stopped = terminate_and_check(daemon);
    writer.join().unwrap();
    assert!(
        stopped
            .stderr
            .contains("stopped before the end of the input"),
        "{}",
        stopped.stderr
    );
}

#[test]
fn sigterm_ends_the_live_daemon_promptly_with_the_summary_counting_what_was_left() {
    let (dir, config) = slow_dir("stop-live");
    let Some((daemon, _status)) = start_live_with(
        &dir,
        &["--config", config.to_str().unwrap(), "--workers", "1"],
    ) else {
        return;
    };
    let shell = run_as("nginx", "exec /bin/sh -c true");
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(300), |lines| {
            lines
                .iter()
                .any(|l| l.contains(&format!("\"hostProcessId\":{shell},")))
        }),
        "{}",
        daemon.stderr_text()
    );
    // Thousands of execs queue behind the slow signature (the queue holds
    // 4096 by default).
    for _ in 0..3000 {
        Command::new("/bin/true").status().unwrap();
    }
    terminate_and_check(daemon);
}
