//! No module holds startup or reload hostage: a module that hangs while
//! loading or is built to be expensive to compile loads (or fails) on its
//! own thread while the others detect, live and in replay.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sigbox_e2e::{Daemon, findings_of, fixture, json_lines, module, sigbox, temp_dir, test_module};

use crate::files::compile_bomb;
use crate::live::{run_as, start_live_with};

const HANG: &str = "hostile-metadata-hang";
const WAIT: Duration = Duration::from_secs(300);

/// Limits long enough that the hanging module and the bomb are still
/// loading when the test ends (their threads die with the daemon), so the
/// order the test sees does not depend on the machine's speed.
fn patient_limits() -> PathBuf {
    let config = temp_dir("slowload-config").join("sigbox.toml");
    std::fs::write(&config, "[limits]\nload_s = 600\ncompile_s = 600\n").unwrap();
    config
}

/// A signed compile bomb (never a compile cache hit), written under
/// `name` in a staging directory, to be renamed into place.
fn staged_bomb(name: &str) -> PathBuf {
    let path = temp_dir("slowload-staging").join(name);
    std::fs::write(&path, compile_bomb(12_000)).unwrap();
    // Signed by a trusted key: compiling it is what takes long.
    sigbox_e2e::sign(&path);
    path
}

fn staged_trc_1016() -> PathBuf {
    let path = temp_dir("slowload-staging").join("trc-1016.wasm");
    std::fs::copy(module("trc-1016"), &path).unwrap();
    path
}

fn wait_for(daemon: &Daemon, text: &str) {
    assert!(
        daemon.wait_for_stderr(WAIT, text),
        "no {text:?}:\n{}",
        daemon.stderr_text()
    );
}

/// The position in `stderr` of the first rejection naming `file`, if any.
fn rejection_of(stderr: &str, file: &str) -> Option<usize> {
    stderr
        .lines()
        .scan(0, |at, line| {
            let start = *at;
            *at += line.len() + 1;
            Some((start, line))
        })
        .find(|(_, line)| line.contains("rejected signature") && line.contains(file))
        .map(|(at, _)| at)
}

/// Publishes the bomb, waits until the daemon is loading it, publishes
/// TRC-1016 and waits until TRC-1016 is loaded; asserts the bomb's outcome
/// (if it has one yet) came after.
fn publish_after_a_bomb(daemon: &Daemon, dir: &Path) {
    std::fs::rename(staged_bomb("a-bomb.wasm"), dir.join("a-bomb.wasm")).unwrap();
    wait_for(daemon, "a-bomb.wasm (sha256");
    std::fs::rename(staged_trc_1016(), dir.join("trc-1016.wasm")).unwrap();
    wait_for(daemon, "loaded signature TRC-1016");
    let stderr = daemon.stderr_text();
    let loaded_at = stderr.find("loaded signature TRC-1016").unwrap();
    assert!(
        rejection_of(&stderr, "a-bomb.wasm").is_none_or(|at| at > loaded_at),
        "TRC-1016 waited for the bomb:\n{stderr}"
    );
}

#[test]
fn live_detection_starts_while_a_module_hangs_loading_and_a_bomb_compiles() {
    let dir = temp_dir("slowload-live-start");
    std::fs::copy(module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    std::fs::copy(test_module(HANG), dir.join(format!("{HANG}.wasm"))).unwrap();
    std::fs::rename(staged_bomb("bomb.wasm"), dir.join("bomb.wasm")).unwrap();
    let config = patient_limits();
    let Some((daemon, _)) = start_live_with(&dir, &["--config", config.to_str().unwrap()]) else {
        return;
    };
    // The daemon started without the module still loading and said so.
    let started = daemon.stderr_text();
    assert!(
        started
            .lines()
            .any(|l| l.contains("detection starts without") && l.contains(HANG)),
        "{started}"
    );
    // Detection starts without the slow modules; TRC-1016 itself may load
    // just after, and an exec before it runs meets no signature.
    assert!(
        daemon.wait_for_stderr(WAIT, "loaded signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    let shell = run_as("nginx", "exec /bin/sh -c true");
    let found = daemon.wait_for_stdout(WAIT, |lines| {
        findings_of(&json_lines(lines.join("\n").as_bytes()), "TRC-1016")
            .iter()
            .any(|f| f["hostProcessId"] == shell)
    });
    let stopped = daemon.stop();
    assert!(found, "no TRC-1016 finding:\n{}", stopped.stderr);
    // Detection did not wait for it: with a load budget of 600 s it was
    // still loading when the daemon stopped.
    assert!(
        rejection_of(&stopped.stderr, HANG).is_none(),
        "{}",
        stopped.stderr
    );
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

#[test]
fn live_a_module_published_after_a_compile_bomb_loads_without_waiting_for_it() {
    let dir = temp_dir("slowload-live-add");
    std::fs::copy(test_module("exec-echo"), dir.join("exec-echo.wasm")).unwrap();
    let config = patient_limits();
    let Some((daemon, _)) = start_live_with(&dir, &["--config", config.to_str().unwrap()]) else {
        return;
    };
    publish_after_a_bomb(&daemon, &dir);
    let shell = run_as("nginx", "exec /bin/sh -c true");
    let found = daemon.wait_for_stdout(WAIT, |lines| {
        findings_of(&json_lines(lines.join("\n").as_bytes()), "TRC-1016")
            .iter()
            .any(|f| f["hostProcessId"] == shell)
    });
    let stopped = daemon.stop();
    assert!(found, "no TRC-1016 finding:\n{}", stopped.stderr);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// A compact Tracee exec event of a web server starting a shell.
fn web_server_shell(pid: u64) -> String {
    format!(
        r#"{{"timestamp":{pid},"processId":{pid},"threadId":{pid},"hostProcessId":{pid},"processName":"sh","eventId":"710","eventName":"sched_process_exec","args":[{{"name":"pathname","type":"const char*","value":"/bin/sh"}},{{"name":"prev_comm","type":"const char*","value":"nginx"}}]}}"#
    )
}

#[test]
fn replay_a_module_published_after_a_compile_bomb_loads_without_waiting_for_it() {
    let dir = temp_dir("slowload-replay-add");
    let config = patient_limits();
    let (daemon, mut stdin) = Daemon::start_piped(
        &[
            "replay",
            "-s",
            dir.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "-",
        ],
        "for signature changes",
    );
    publish_after_a_bomb(&daemon, &dir);
    writeln!(stdin, "{}", web_server_shell(4242)).unwrap();
    drop(stdin);
    let stopped = daemon.wait();
    let findings = json_lines(stopped.stdout.join("\n").as_bytes());
    assert_eq!(
        findings_of(&findings, "TRC-1016").len(),
        1,
        "{}",
        stopped.stderr
    );
}

/// Replay is a batch job: every event meets every module that loads, so it
/// waits for each one, within its compile and load limits, and says how
/// long that took.
#[test]
fn replay_waits_for_every_module_within_its_limits_and_reports_the_wait() {
    let dir = temp_dir("slowload-replay-start");
    std::fs::copy(module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    std::fs::copy(test_module(HANG), dir.join(format!("{HANG}.wasm"))).unwrap();
    std::fs::rename(staged_bomb("bomb.wasm"), dir.join("bomb.wasm")).unwrap();
    let config = temp_dir("slowload-replay-config").join("sigbox.toml");
    std::fs::write(&config, "[limits]\nload_s = 1\ncompile_s = 2\n").unwrap();
    let events = fixture("trc-1016-cases.jsonl");
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    let stderr = sigbox_e2e::text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{HANG}.wasm: get-metadata exceeded the load time limit of 1s"
        )),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("bomb.wasm") && l.contains("the compile time limit of 2s")),
        "{stderr}"
    );
    assert!(
        stderr.contains("loading the signatures directory took"),
        "{stderr}"
    );
    // Every event met TRC-1016, which waited for no one while loading.
    let findings = json_lines(&out.stdout);
    assert_eq!(
        findings_of(&findings, "TRC-1016").len(),
        crate::integrity::TRC_1016_PIDS.len(),
        "{stderr}"
    );
    // Two files did not load: a replay says so in its exit status.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

/// A module replaced while it is still loading: the new bytes load at once,
/// and the outcome of the old ones, when it comes, is dropped (never a
/// rejection of the file, which now holds a good module).
#[test]
fn replay_a_module_replaced_while_it_loads_runs_its_new_bytes() {
    let dir = temp_dir("slowload-replay-replace");
    let config = temp_dir("slowload-replace-config").join("sigbox.toml");
    std::fs::write(&config, "[limits]\ncompile_s = 2\n").unwrap();
    let (daemon, mut stdin) = Daemon::start_piped(
        &[
            "replay",
            "-s",
            dir.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "-",
        ],
        "for signature changes",
    );
    let bomb = staged_bomb("trc-1016.wasm");
    let bomb_sha = sigbox_e2e::sha256_hex(&std::fs::read(&bomb).unwrap());
    std::fs::rename(bomb, dir.join("trc-1016.wasm")).unwrap();
    wait_for(&daemon, &format!("trc-1016.wasm (sha256 {bomb_sha})"));
    std::fs::rename(staged_trc_1016(), dir.join("trc-1016.wasm")).unwrap();
    wait_for(&daemon, "loaded signature TRC-1016");
    // The bomb is cut at its compile limit; its outcome is dropped.
    wait_for(&daemon, &format!("while loading (sha256 {bomb_sha})"));
    writeln!(stdin, "{}", web_server_shell(4343)).unwrap();
    drop(stdin);
    let stopped = daemon.wait();
    assert!(
        rejection_of(&stopped.stderr, "trc-1016.wasm").is_none(),
        "{}",
        stopped.stderr
    );
    let findings = json_lines(stopped.stdout.join("\n").as_bytes());
    assert_eq!(
        findings_of(&findings, "TRC-1016").len(),
        1,
        "{}",
        stopped.stderr
    );
    assert!(stopped.status.success(), "{}", stopped.stderr);
}
