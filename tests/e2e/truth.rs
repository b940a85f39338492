//! What the daemon reports matches what it does: exit status, config
//! warnings, the status file, selectors the source cannot serve, and
//! messages that say what to do.

use std::time::Duration;

use sigbox_e2e::{Daemon, fixture, module, sigbox, temp_dir, test_module, text};

use crate::live::READY;

#[test]
fn replay_exits_1_when_no_signature_loaded_and_says_what_belongs_there() {
    let dir = temp_dir("truth-empty");
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        fixture("sample-events.jsonl").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no signatures loaded from")
            && stderr.contains("`*.wasm` components built for wasm32-wasip2"),
        "{stderr}"
    );
    assert!(stderr.contains("no signature was loaded"), "{stderr}");
}

#[test]
fn a_config_section_for_an_id_nobody_has_is_a_warning_naming_the_loaded_ids() {
    let dir = temp_dir("truth-config");
    std::fs::copy(module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    let config = temp_dir("truth-config-file").join("sigbox.toml");
    std::fs::write(
        &config,
        "[signature.\"TRC-1061\"]\nlimits = { cpu_ms = 20 }\n",
    )
    .unwrap();
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        fixture("sample-events.jsonl").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[signature.\"TRC-1061\"] section, but no loaded signature has that id (loaded: TRC-1016)"),
        "{stderr}"
    );
}

#[test]
fn zero_limits_are_errors_naming_the_option() {
    let dir = temp_dir("truth-zero");
    for flag in ["--cpu-limit-ms", "--memory-limit-mib"] {
        let out = sigbox(&["replay", "-s", dir.to_str().unwrap(), flag, "0", "-"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains(flag), "{}", text(&out.stderr));
    }
}

#[test]
fn inspect_takes_several_files_and_directories() {
    let dir = temp_dir("truth-inspect");
    std::fs::copy(module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    std::fs::copy(test_module("exec-echo"), dir.join("exec-echo.wasm")).unwrap();
    let out = sigbox(&["inspect", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["TEST-EXEC-ECHO", "TRC-1016"]);
    // A bad file among good ones: the good ones are printed, exit status 1.
    let bad = dir.join("bad.wasm");
    std::fs::write(&bad, b"not wasm").unwrap();
    let trc = dir.join("trc-1016.wasm");
    let out = sigbox(&["inspect", trc.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 1);
    assert!(text(&out.stderr).contains("bad.wasm: not a WebAssembly file"));
}

/// `sigbox status` for a status file.
fn status(file: &std::path::Path) -> std::process::Output {
    sigbox(&["status", "--status-file", file.to_str().unwrap()])
}

#[test]
fn the_status_file_is_locked_marked_stopped_and_checked_against_the_pid() {
    let dir = temp_dir("truth-status");
    std::fs::copy(module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    let status_file = temp_dir("truth-status-file").join("status.json");
    let args = [
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--status-file",
        status_file.to_str().unwrap(),
        "-",
    ];
    let (first, stdin) = Daemon::start_piped(&args, "sigbox status");
    // A second daemon on the same status file is refused, naming the option.
    let second = sigbox(&args);
    assert_eq!(second.status.code(), Some(2));
    let error = text(&second.stderr);
    assert!(
        error.contains(&format!("another sigbox (pid {})", first.pid()))
            && error.contains("--status-file"),
        "{error}"
    );
    // While it runs, status says so.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !status_file.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = status(&status_file);
    assert!(running.status.success(), "{}", text(&running.stderr));
    assert!(text(&running.stdout).contains(&format!("sigbox pid {} (status", first.pid())));
    // On exit it marks the file stopped.
    drop(stdin);
    let stopped = first.wait();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let after = status(&status_file);
    assert_eq!(after.status.code(), Some(3));
    assert!(
        text(&after.stdout).contains("STOPPED"),
        "{}",
        text(&after.stdout)
    );

    // A daemon killed outright cannot mark it: status notices the pid is gone.
    let (killed, _stdin) = Daemon::start_piped(&args, "sigbox status");
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !text(&status(&status_file).stdout).contains(&format!("pid {} (", killed.pid()))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    killed.signal("KILL");
    let _ = killed.wait();
    let dead = status(&status_file);
    assert_eq!(dead.status.code(), Some(3));
    assert!(
        text(&dead.stdout).contains("NOT RUNNING"),
        "{}",
        text(&dead.stdout)
    );
}

#[test]
fn a_selector_the_live_source_cannot_serve_is_named() {
    if !sigbox_e2e::is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    // TRC-1017 selects module_load, which the live source serves only on
    // kernels with modules (CONFIG_MODULES; not this VM's).
    if std::path::Path::new("/proc/modules").exists() {
        eprintln!("skipped: this kernel has modules, so module_load is served");
        return;
    }
    let dir = temp_dir("truth-unserved");
    std::fs::copy(module("trc-1017"), dir.join("trc-1017.wasm")).unwrap();
    let status_file = temp_dir("truth-unserved-status").join("status.json");
    let daemon = Daemon::start(
        &[
            "run",
            "-s",
            dir.to_str().unwrap(),
            "--status-file",
            status_file.to_str().unwrap(),
        ],
        READY,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let mut listing = String::new();
    while std::time::Instant::now() < deadline {
        listing = text(&status(&status_file).stdout);
        if listing.contains("never gets") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopped = daemon.stop();
    assert!(
        stopped
            .stderr
            .contains("selects module_load which this source never produces"),
        "{}",
        stopped.stderr
    );
    assert!(listing.contains("never gets module_load"), "{listing}");
    assert!(!listing.contains("sched_process_exec"), "{listing}");
}

#[test]
fn replay_reading_a_terminal_says_it_waits_for_events_on_stdin() {
    let dir = temp_dir("truth-terminal");
    std::fs::copy(module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    // `script` gives sigbox a pseudo-terminal as stdin; its input (empty)
    // ends the session.
    let out = std::process::Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} replay -s {}",
            sigbox_e2e::sigbox_bin().display(),
            dir.display()
        ))
        .arg("/dev/null")
        .env("SIGBOX_CACHE_DIR", sigbox_e2e::cache_dir())
        .env("SIGBOX_TRUST", sigbox_e2e::dev_trust())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running script (util-linux)");
    let output = text(&out.stdout);
    assert!(
        output.contains("waiting for Tracee JSON events on stdin (a terminal)"),
        "{output}"
    );
}

#[test]
fn run_on_an_empty_directory_says_so_loudly_and_keeps_watching() {
    if !sigbox_e2e::is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let dir = temp_dir("truth-run-empty");
    let status_file = temp_dir("truth-run-empty-status").join("status.json");
    let daemon = Daemon::start(
        &[
            "run",
            "-s",
            dir.to_str().unwrap(),
            "--status-file",
            status_file.to_str().unwrap(),
        ],
        READY,
    );
    // It watches: a module arriving later loads.
    std::fs::copy(module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(300), "loaded signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    let stopped = daemon.stop();
    assert!(
        stopped.stderr.lines().any(|l| l.contains("ERROR")
            && l.contains("no signatures loaded from")
            && l.contains("nothing is being detected")),
        "{}",
        stopped.stderr
    );
}
