//! Who gets a signature id two modules claim, in replay and live: never the
//! file whose name sorts first. The impostor (`idclaim-impostor`) claims
//! TRC-1016 and echoes the configuration its `init` is given, in its log and
//! in every finding, so a configuration leak shows on stdout or stderr.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{
    Daemon, findings_of, fixture, json_lines, module, sigbox, temp_dir, test_module, text,
};

use crate::live::{run_as, start_live_with};

/// The secret the config file gives TRC-1016; it must reach no module the
/// operator did not tie to the id.
const SECRET: &str = "idclaim-secret-4d1f";

/// A config file giving TRC-1016 [`SECRET`].
fn config_with_secret() -> PathBuf {
    let config = temp_dir("idclaim-config").join("sigbox.toml");
    std::fs::write(
        &config,
        format!("[signature.\"TRC-1016\"]\nconfig = {{ secret = \"{SECRET}\" }}\n"),
    )
    .unwrap();
    config
}

/// Copies `source` to `dir/name`, signed with `key` (a `.key` file) when
/// given, and returns the copy.
fn copy_signed(source: &Path, dir: &Path, name: &str, key: Option<&Path>) -> PathBuf {
    let to = dir.join(name);
    match key {
        Some(key) => {
            let out = sigbox(&[
                "sign",
                "--key",
                key.to_str().unwrap(),
                source.to_str().unwrap(),
                "--out",
                to.to_str().unwrap(),
            ]);
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        None => {
            std::fs::copy(source, &to).unwrap();
        }
    }
    to
}

/// A trust policy with the development key (allowed every id) and a new
/// key `team` scoped to TRC-1016; returns the policy and team's `.key`.
fn policy_tying_trc_1016_to_team() -> (PathBuf, PathBuf) {
    let dir = temp_dir("idclaim-keys");
    let out = sigbox(&["keygen", dir.join("team").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dev_pub = sigbox_e2e::repo_root().join("target/dev-key/sigbox-dev.pub");
    std::fs::copy(dev_pub, dir.join("dev.pub")).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "[[key]]\nname = \"dev\"\npublic_key = \"dev.pub\"\n\
         [[key]]\nname = \"team\"\npublic_key = \"team.pub\"\nids = [\"TRC-1016\"]\n",
    )
    .unwrap();
    (policy, dir.join("team.key"))
}

fn replay(dir: &Path, trust: &[&str]) -> (Vec<Value>, String) {
    let config = config_with_secret();
    let events = fixture("sample-events.jsonl");
    let mut args = vec![
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend_from_slice(trust);
    args.push(events.to_str().unwrap());
    let out = sigbox(&args);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the id's configuration leaked:\n{stdout}\n{stderr}"
    );
    (json_lines(&out.stdout), stderr)
}

/// The `sigbox_module_rejected` records for `file` (its name).
fn rejections<'a>(lines: &'a [Value], file: &str) -> Vec<&'a Value> {
    findings_of(lines, "SIGBOX-COVERAGE")
        .into_iter()
        .filter(|r| r["eventName"] == "sigbox_module_rejected")
        .filter(|r| {
            r["args"].as_array().into_iter().flatten().any(|a| {
                a["name"] == "file" && a["value"].as_str().is_some_and(|v| v.ends_with(file))
            })
        })
        .collect()
}

/// Asserts that `file`'s rejection record also names `rival`, and says so
/// in a log line.
fn assert_rejected_naming(lines: &[Value], stderr: &str, file: &str, rival: &str, says: &str) {
    let records = rejections(lines, file);
    assert_eq!(records.len(), 1, "{file}: {lines:#?}");
    let record = records[0].to_string();
    assert!(record.contains(rival) && record.contains(says), "{record}");
    assert!(
        stderr.lines().any(|l| l.contains("rejected signature")
            && l.contains(file)
            && l.contains(rival)
            && l.contains(says)),
        "{stderr}"
    );
}

/// With `--allow-unsigned`, or a key allowed every id, two different
/// modules claiming TRC-1016 run neither, whatever their names: the
/// impostor named to sort first gets neither the id, nor its configuration,
/// nor a finding under it, and both refusals name both files.
#[test]
fn replay_an_impostor_named_first_wins_neither_the_id_nor_its_config() {
    let dev_key = sigbox_e2e::dev_key();
    for (trust, key) in [
        (vec!["--allow-unsigned"], None),
        (vec![], Some(dev_key.as_path())),
    ] {
        let dir = temp_dir("idclaim-replay");
        copy_signed(&test_module("idclaim-impostor"), &dir, "aaa.wasm", key);
        copy_signed(&module("trc-1016"), &dir, "trc-1016.wasm", key);
        let (lines, stderr) = replay(&dir, &trust);
        assert!(findings_of(&lines, "TRC-1016").is_empty(), "{lines:#?}");
        assert!(!stderr.contains("idclaim-impostor init"), "{stderr}");
        for (file, rival) in [("aaa.wasm", "trc-1016.wasm"), ("trc-1016.wasm", "aaa.wasm")] {
            assert_rejected_naming(&lines, &stderr, file, rival, "none runs");
        }
    }
}

/// With a policy that ties TRC-1016 to one key, the module that key signed
/// runs whatever its file name, and only it is given the id's
/// configuration: the real TRC-1016 (named after the impostor) wins over an
/// impostor signed by a key allowed every id, and the echoing module wins
/// (and echoes the configuration it was rightly given) when it is the one
/// tied, named last.
#[test]
fn replay_the_module_the_policy_ties_the_id_to_runs_whatever_its_name() {
    let (policy, team) = policy_tying_trc_1016_to_team();
    let dev_key = sigbox_e2e::dev_key();
    let trust = ["--trust", policy.to_str().unwrap()];

    let dir = temp_dir("idclaim-replay-tied");
    copy_signed(
        &test_module("idclaim-impostor"),
        &dir,
        "aaa.wasm",
        Some(&dev_key),
    );
    copy_signed(&module("trc-1016"), &dir, "trc-1016.wasm", Some(&team));
    let (lines, stderr) = replay(&dir, &trust);
    let found = findings_of(&lines, "TRC-1016");
    assert_eq!(found.len(), 1, "{lines:#?}");
    assert_eq!(
        found[0]["metadata"]["Properties"]["signatureName"],
        "Web server spawned a shell"
    );
    assert_rejected_naming(
        &lines,
        &stderr,
        "aaa.wasm",
        "trc-1016.wasm",
        "tied by the trust policy",
    );
    assert!(rejections(&lines, "trc-1016.wasm").is_empty(), "{lines:#?}");

    // The other way round: the echoing module is the tied one.
    let dir = temp_dir("idclaim-replay-tied-echo");
    copy_signed(&module("trc-1016"), &dir, "aaa.wasm", Some(&dev_key));
    copy_signed(
        &test_module("idclaim-impostor"),
        &dir,
        "zzz.wasm",
        Some(&team),
    );
    let config = config_with_secret();
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--trust",
        policy.to_str().unwrap(),
        fixture("sample-events.jsonl").to_str().unwrap(),
    ]);
    let lines = json_lines(&out.stdout);
    let stderr = text(&out.stderr);
    let found = findings_of(&lines, "TRC-1016");
    assert!(!found.is_empty(), "{stderr}");
    assert!(
        found.iter().all(|f| f.to_string().contains(SECRET)),
        "the tied module was not given its configuration: {found:#?}"
    );
    assert_rejected_naming(
        &lines,
        &stderr,
        "aaa.wasm",
        "zzz.wasm",
        "tied by the trust policy",
    );
}

/// The live daemon: at start, when a third claimant goes and after SIGHUP,
/// the impostor named first and the real TRC-1016 run neither (both refusals name both files, no
/// configuration leaks); once the impostor is removed the real one loads and detects; a
/// second impostor arriving while it runs is refused naming the running
/// file, and every later finding under TRC-1016 is the real one's.
#[test]
fn live_an_impostor_wins_the_id_neither_at_start_nor_at_hot_swap() {
    let dir = temp_dir("idclaim-live");
    copy_signed(&test_module("idclaim-impostor"), &dir, "aaa.wasm", None);
    // A third claimant, other bytes (signed by one more key).
    let (_, other_key) = policy_tying_trc_1016_to_team();
    copy_signed(
        &test_module("idclaim-impostor"),
        &dir,
        "aab.wasm",
        Some(&other_key),
    );
    copy_signed(&module("trc-1016"), &dir, "trc-1016.wasm", None);
    // Reports every exec: a later exec's finding proves the daemon is past
    // an earlier one (one worker evaluates events in order).
    copy_signed(&test_module("versioned-v1"), &dir, "versioned.wasm", None);
    let config = config_with_secret();
    let Some((daemon, _)) = start_live_with(
        &dir,
        &[
            "--allow-unsigned",
            "--workers",
            "1",
            "--config",
            config.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    let wait = |text: &str| {
        assert!(
            daemon.wait_for_stderr(Duration::from_secs(120), text),
            "never logged {text:?}:\n{}",
            daemon.stderr_text()
        );
    };
    let contest = |file: &str, rivals: &[&str]| {
        let rivals: Vec<String> = rivals
            .iter()
            .map(|r| dir.join(r).display().to_string())
            .collect();
        format!(
            "{}: signature id TRC-1016 is also claimed by {}, and the trust policy",
            dir.join(file).display(),
            rivals.join(", ")
        )
    };
    for (file, rivals) in [
        ("aaa.wasm", ["aab.wasm", "trc-1016.wasm"]),
        ("aab.wasm", ["aaa.wasm", "trc-1016.wasm"]),
        ("trc-1016.wasm", ["aaa.wasm", "aab.wasm"]),
    ] {
        wait(&contest(file, &rivals));
    }
    // One rival goes: the other two are decided again, each claim counting
    // against the other, so the module that loads first does not win.
    std::fs::remove_file(dir.join("aab.wasm")).unwrap();
    let pair = [
        contest("aaa.wasm", &["trc-1016.wasm"]),
        contest("trc-1016.wasm", &["aaa.wasm"]),
    ];
    pair.iter().for_each(|line| wait(line));
    // And so on SIGHUP.
    daemon.signal("HUP");
    wait("SIGHUP: rescanning");
    let decided_twice = |stderr: &str| {
        pair.iter()
            .all(|line| stderr.matches(line.as_str()).count() >= 2)
    };
    assert!(
        (0..6000).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            decided_twice(&daemon.stderr_text())
        }),
        "{}",
        daemon.stderr_text()
    );
    let contested = run_as("nginx", "exec /bin/sh -c true");
    let marker = run_as("idclaim-mark", "exec /bin/true");
    wait_for_seq(&daemon, marker);

    // The impostor goes: the real module is decided again and runs.
    std::fs::remove_file(dir.join("aaa.wasm")).unwrap();
    wait("loaded signature TRC-1016");
    let real = run_as("nginx", "exec /bin/sh -c true");
    wait_for_trc_1016(&daemon, real);

    // A second impostor while the real one runs: refused, naming it.
    let staging = dir.join(".aac.wasm.tmp");
    std::fs::copy(test_module("idclaim-impostor"), &staging).unwrap();
    std::fs::rename(&staging, dir.join("aac.wasm")).unwrap();
    wait(&format!(
        "{}: signature id TRC-1016 is already loaded from {}",
        dir.join("aac.wasm").display(),
        dir.join("trc-1016.wasm").display()
    ));
    let after = run_as("nginx", "exec /bin/sh -c true");
    wait_for_trc_1016(&daemon, after);
    let marker = run_as("idclaim-mark", "exec /bin/true");
    wait_for_seq(&daemon, marker);

    let stopped = daemon.stop();
    let stdout = stopped.stdout.join("\n");
    assert!(
        !stdout.contains(SECRET) && !stopped.stderr.contains(SECRET),
        "the id's configuration leaked:\n{stdout}\n{}",
        stopped.stderr
    );
    assert!(!stdout.contains("idclaim_impostor"), "{stdout}");
    let lines = json_lines(stdout.as_bytes());
    let trc_1016 = findings_of(&lines, "TRC-1016");
    assert!(
        trc_1016.iter().all(|f| f["processId"] != contested
            && f["metadata"]["Properties"]["signatureName"] == "Web server spawned a shell"),
        "{trc_1016:#?}"
    );
    for file in ["aaa.wasm", "aab.wasm", "trc-1016.wasm", "aac.wasm"] {
        assert!(!rejections(&lines, file).is_empty(), "{file}: {lines:#?}");
    }
}

/// The live daemon under a policy that ties TRC-1016 to one key: at start
/// the module it signed runs although an impostor's name sorts first, and
/// keeps the id against an untied newcomer; and a tied newcomer takes the
/// id over from an untied running module (which is unloaded and reported),
/// and only then is given the id's configuration.
#[test]
fn live_the_module_the_policy_ties_the_id_to_wins_at_start_and_at_hot_swap() {
    let (policy, team) = policy_tying_trc_1016_to_team();
    let dev_key = sigbox_e2e::dev_key();
    let config = config_with_secret();
    let start = |dir: &Path| {
        start_live_with(
            dir,
            &[
                "--trust",
                policy.to_str().unwrap(),
                "--workers",
                "1",
                "--config",
                config.to_str().unwrap(),
            ],
        )
    };

    // At start: the tied real module runs, the impostor named first does not.
    let dir = temp_dir("idclaim-live-tied");
    copy_signed(
        &test_module("idclaim-impostor"),
        &dir,
        "aaa.wasm",
        Some(&dev_key),
    );
    copy_signed(&module("trc-1016"), &dir, "trc-1016.wasm", Some(&team));
    let Some((daemon, _)) = start(&dir) else {
        return;
    };
    assert!(
        daemon.stderr_text().contains(&format!(
            "{}: signature id TRC-1016 is tied by the trust policy to {}",
            dir.join("aaa.wasm").display(),
            dir.join("trc-1016.wasm").display()
        )),
        "{}",
        daemon.stderr_text()
    );
    let pid = run_as("nginx", "exec /bin/sh -c true");
    wait_for_trc_1016(&daemon, pid);
    // An untied newcomer does not take the id from it.
    let staging = dir.join(".zzz.wasm.tmp");
    copy_signed(&module("trc-1016"), &dir, ".zzz.wasm.tmp", Some(&dev_key));
    std::fs::rename(&staging, dir.join("zzz.wasm")).unwrap();
    assert!(
        daemon.wait_for_stderr(
            Duration::from_secs(120),
            &format!(
                "{}: signature id TRC-1016 is tied by the trust policy to {}",
                dir.join("zzz.wasm").display(),
                dir.join("trc-1016.wasm").display()
            )
        ),
        "{}",
        daemon.stderr_text()
    );
    let stopped = daemon.stop();
    let stdout = stopped.stdout.join("\n");
    assert!(
        !stdout.contains(SECRET) && !stopped.stderr.contains(SECRET),
        "{stdout}\n{}",
        stopped.stderr
    );
    assert!(!stdout.contains("idclaim_impostor"), "{stdout}");

    // At hot swap: a tied newcomer takes the id over from an untied module.
    let dir = temp_dir("idclaim-live-takeover");
    copy_signed(&module("trc-1016"), &dir, "aaa.wasm", Some(&dev_key));
    let Some((daemon, _)) = start(&dir) else {
        return;
    };
    let pid = run_as("nginx", "exec /bin/sh -c true");
    wait_for_trc_1016(&daemon, pid);
    copy_signed(
        &test_module("idclaim-impostor"),
        &dir,
        ".zzz.wasm.tmp",
        Some(&team),
    );
    std::fs::rename(dir.join(".zzz.wasm.tmp"), dir.join("zzz.wasm")).unwrap();
    assert!(
        daemon.wait_for_stderr(
            Duration::from_secs(120),
            &format!(
                "{}: no longer runs: the trust policy ties signature id TRC-1016 to {}",
                dir.join("aaa.wasm").display(),
                dir.join("zzz.wasm").display()
            )
        ),
        "{}",
        daemon.stderr_text()
    );
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "unloaded signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    let pid = run_as("nginx", "exec /bin/sh -c true");
    // The tied module runs, given the configuration the operator tied to it.
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(120), |lines| lines.iter().any(|l| {
            l.contains("idclaim_impostor")
                && l.contains(SECRET)
                && l.contains(&format!("\"processId\":{pid},"))
        })),
        "{}",
        daemon.stdout_lines().join("\n")
    );
    let stopped = daemon.stop();
    let lines = json_lines(stopped.stdout.join("\n").as_bytes());
    assert!(!rejections(&lines, "aaa.wasm").is_empty(), "{lines:#?}");
}

/// Whether `lines` hold a finding of signature `id` (named `name`, when
/// given) for the exec of `pid`.
fn has_finding(lines: &[String], id: &str, name: Option<&str>, pid: u32) -> bool {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|f| {
            let properties = &f["metadata"]["Properties"];
            properties["signatureID"] == id
                && name.is_none_or(|name| properties["signatureName"] == name)
                && f["processId"] == pid
        })
}

/// Waits for TEST-VERSIONED's finding for the exec of `pid`.
fn wait_for_seq(daemon: &Daemon, pid: u32) {
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(120), |lines| has_finding(
            lines,
            "TEST-VERSIONED",
            None,
            pid
        )),
        "no TEST-VERSIONED finding for pid {pid}:\n{}",
        daemon.stdout_lines().join("\n")
    );
}

/// Waits for the real TRC-1016's finding for the exec of `pid`.
fn wait_for_trc_1016(daemon: &Daemon, pid: u32) {
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(120), |lines| has_finding(
            lines,
            "TRC-1016",
            Some("Web server spawned a shell"),
            pid
        )),
        "no TRC-1016 finding for pid {pid}:\n{}",
        daemon.stdout_lines().join("\n")
    );
}

/// `pack-hostile` (detectors PACK-FIND-1, PACK-HOSTILE, PACK-FIND-2) as
/// `pack.wasm`, a module claiming PACK-FIND-2 as `aaa.wasm` and TEST-VERSIONED
/// (it finds every exec), unsigned.
fn pack_and_rival(label: &str) -> PathBuf {
    let dir = temp_dir(label);
    copy_signed(&test_module("pack-hostile"), &dir, "pack.wasm", None);
    copy_signed(&test_module("idclaim-pack-rival"), &dir, "aaa.wasm", None);
    // An innocent module beside them: it runs.
    copy_signed(&test_module("versioned-v1"), &dir, "versioned.wasm", None);
    dir
}

/// The refusal of `file` for sharing PACK-FIND-2 with `rival`, as logged.
fn overlap_refusal(dir: &Path, file: &str, rival: &str) -> String {
    format!(
        "{}: signature id PACK-FIND-2 is also claimed by {}, and one of the two is a pack that \
         runs a detector under it",
        dir.join(file).display(),
        dir.join(rival).display()
    )
}

/// A pack's second and third detector ids are as much its own as its first:
/// a module claiming one of them and the pack, found together at start,
/// run neither (whichever name sorts first), both refusals name the id and
/// the other file, and a third module runs.
#[test]
fn replay_a_pack_and_a_module_sharing_a_detector_id_run_neither() {
    let dir = pack_and_rival("idclaim-pack-replay");
    let events = dir.join("events.jsonl.txt");
    let line = |pid: u32| {
        format!(
            r#"{{"timestamp":{pid},"processId":{pid},"threadId":{pid},"hostProcessId":{pid},"processName":"packmark","eventId":"710","eventName":"sched_process_exec","args":[{{"name":"pathname","type":"const char*","value":"/bin/true"}}]}}"#
        )
    };
    std::fs::write(&events, (1..=3).map(line).collect::<Vec<_>>().join("\n")).unwrap();
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--allow-unsigned",
        events.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    // Refused files fail the run (after it has run the others).
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 signature files failed to load"),
        "{stderr}"
    );
    let lines = json_lines(&out.stdout);
    for id in ["PACK-FIND-1", "PACK-HOSTILE", "PACK-FIND-2"] {
        assert!(findings_of(&lines, id).is_empty(), "{id}: {lines:#?}");
    }
    assert_eq!(findings_of(&lines, "TEST-VERSIONED").len(), 3, "{lines:#?}");
    for (file, rival) in [("aaa.wasm", "pack.wasm"), ("pack.wasm", "aaa.wasm")] {
        assert_rejected_naming(&lines, &stderr, file, rival, "PACK-FIND-2");
        assert!(
            stderr.contains(&overlap_refusal(&dir, file, rival)),
            "{stderr}"
        );
    }
}

/// Live: a module claiming a running pack's detector id is refused and the
/// pack keeps finding under it; once the pack goes, the module is decided
/// again and runs.
#[test]
fn live_a_module_claiming_a_running_packs_detector_id_is_refused_until_the_pack_goes() {
    let dir = temp_dir("idclaim-pack-live");
    copy_signed(&test_module("pack-hostile"), &dir, "pack.wasm", None);
    let Some((daemon, _)) = start_live_with(&dir, &["--allow-unsigned", "--workers", "1"]) else {
        return;
    };
    // PACK-FIND-2's findings for `pid`, and the rival's.
    let found_by = |lines: &[String], pid: u32, event_name: &str| {
        lines.iter().any(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|f| {
                f["hostProcessId"].as_u64() == Some(u64::from(pid))
                    && f["metadata"]["Properties"]["signatureID"] == "PACK-FIND-2"
                    && f["eventName"] == event_name
            })
        })
    };
    let wait_found = |pid: u32, event_name: &str| {
        assert!(
            daemon.wait_for_stdout(Duration::from_secs(120), |lines| found_by(
                lines, pid, event_name
            )),
            "no {event_name} finding for {pid}:\n{}",
            daemon.stderr_text()
        );
    };
    let pack_event = "pack_marker";
    let before = run_as("packmark", "true");
    wait_found(before, pack_event);

    let staging = dir.join(".aaa.wasm.tmp");
    std::fs::copy(test_module("idclaim-pack-rival"), &staging).unwrap();
    std::fs::rename(&staging, dir.join("aaa.wasm")).unwrap();
    let refusal = overlap_refusal(&dir, "aaa.wasm", "pack.wasm");
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), &refusal),
        "never refused:\n{}",
        daemon.stderr_text()
    );
    let during = run_as("packmark", "true");
    wait_found(during, pack_event);

    // The pack goes: the rival's claim is decided again and it runs.
    std::fs::remove_file(dir.join("pack.wasm")).unwrap();
    let rival_loaded = format!(
        "loaded signature PACK-FIND-2 v1 ({}",
        dir.join("aaa.wasm").display()
    );
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), &rival_loaded),
        "{}",
        daemon.stderr_text()
    );
    let after = run_as("packmark", "true");
    wait_found(after, "idclaim_pack_rival");

    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let lines = json_lines(stopped.stdout.join("\n").as_bytes());
    // Never both: no rival finding while the pack ran.
    for pid in [before, during] {
        assert!(
            !found_by(&stopped.stdout, pid, "idclaim_pack_rival"),
            "{lines:#?}"
        );
    }
    assert!(!rejections(&lines, "aaa.wasm").is_empty(), "{lines:#?}");
}
