//! Packs (several detectors in one component, the WIT's `pack` world)
//! through the live daemon on real exec events, in replay, and under
//! `sigbox test` (and `sigbox inspect`): each detector finds under its own id, and a hostile
//! detector in a pack is quarantined alone while the pack's other
//! detectors and a separate signature module keep finding.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{
    Daemon, findings_of, free_port, http_get, json_lines, metric, sigbox, summary_of, temp_dir,
    test_module, text,
};

use crate::live::{run_as, start_live_with};

/// The test pack's detectors, in pack order, and the separate module.
const PACK: [&str; 3] = ["PACK-FIND-1", "PACK-HOSTILE", "PACK-FIND-2"];
const SEPARATE: &str = "TRAP-ON-MARKER";

/// pack-hostile.wasm and trap-on-marker.wasm in a fresh directory, and a
/// config that quarantines after two faults for an hour.
fn pack_dir(label: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(label);
    for name in ["pack-hostile", "trap-on-marker"] {
        std::fs::copy(test_module(name), dir.join(format!("{name}.wasm"))).unwrap();
    }
    let config = temp_dir(&format!("{label}-config")).join("sigbox.toml");
    std::fs::write(
        &config,
        "[limits]\nquarantine_after = 2\nquarantine_cooldown_s = 3600\n",
    )
    .unwrap();
    (dir, config)
}

/// The signature ids of the findings of `pid` among `lines`.
fn ids_for(lines: &[String], pid: u32) -> Vec<String> {
    let mut ids: Vec<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f["hostProcessId"].as_u64() == Some(u64::from(pid)))
        .filter_map(|f| {
            f["metadata"]["Properties"]["signatureID"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    ids.sort();
    ids
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
fn a_packs_detectors_find_under_their_own_ids_and_a_hostile_one_is_quarantined_alone_live() {
    let (dir, config) = pack_dir("detector-pack-live");
    let listen = format!("127.0.0.1:{}", free_port());
    let Some((daemon, _status)) = start_live_with(
        &dir,
        &["--config", config.to_str().unwrap(), "--listen", &listen],
    ) else {
        return;
    };
    // One exec every detector of the pack finds, each under its own id.
    let marked = run_as("packmark", "true");
    let mut expected: Vec<String> = PACK.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    let all_three = daemon.wait_for_stdout(Duration::from_secs(120), |lines| {
        ids_for(lines, marked) == expected
    });
    assert!(all_three, "{:?}", ids_for(&daemon.stdout_lines(), marked));

    // Execs the hostile detector traps on, until it is quarantined.
    for _ in 0..50 {
        run_as("packtrap", "true");
        if daemon.wait_for_stdout(Duration::from_secs(10), |lines| {
            quarantine_recorded(lines, "PACK-HOSTILE")
        }) {
            break;
        }
    }
    assert!(
        quarantine_recorded(&daemon.stdout_lines(), "PACK-HOSTILE"),
        "PACK-HOSTILE was not quarantined"
    );
    // The pack's innocent detectors and the separate module go on.
    let after = run_as("packmark", "true");
    let separate = run_as("markerok", "true");
    let innocent = ["PACK-FIND-1", "PACK-FIND-2"].map(String::from).to_vec();
    let found = daemon.wait_for_stdout(Duration::from_secs(120), |lines| {
        ids_for(lines, after) == innocent && ids_for(lines, separate) == [SEPARATE]
    });
    let (_, metrics) = http_get(&listen, "/metrics").expect("/metrics answers");
    let stopped = daemon.stop();
    assert!(
        found,
        "after the quarantine: {:?} {:?}\n{}",
        ids_for(&stopped.stdout, after),
        ids_for(&stopped.stdout, separate),
        stopped.stderr
    );
    assert!(stopped.status.success(), "{}", stopped.stderr);
    // Counted per detector: only the hostile one trapped and is quarantined.
    let quarantined = |id: &str| {
        metric(
            &metrics,
            &format!("sigbox_signature_quarantined{{id=\"{id}\"}}"),
        )
    };
    assert_eq!(quarantined("PACK-HOSTILE"), Some(1.0), "{metrics}");
    for id in ["PACK-FIND-1", "PACK-FIND-2", SEPARATE] {
        assert_eq!(quarantined(id), Some(0.0), "{id}: {metrics}");
        let summary = summary_of(&stopped.stderr, id);
        assert!(summary.contains("(0 traps"), "{summary}");
    }
    let hostile = summary_of(&stopped.stderr, "PACK-HOSTILE");
    assert!(!hostile.contains("(0 traps"), "{hostile}");
    // Its faults were logged under its own id, its quarantine too.
    assert!(
        stopped
            .stderr
            .lines()
            .any(|l| l.contains("signature=PACK-HOSTILE") && l.contains("trap")),
        "{}",
        stopped.stderr
    );
    assert!(
        stopped
            .stderr
            .lines()
            .any(|l| l.contains("quarantined signature PACK-HOSTILE")),
        "{}",
        stopped.stderr
    );
}

/// A Tracee exec event: `comm` run with host pid `pid`.
fn exec_line(pid: u64, comm: &str) -> String {
    format!(
        r#"{{"timestamp":{pid},"processId":{pid},"threadId":{pid},"hostProcessId":{pid},"processName":"{comm}","eventId":"710","eventName":"sched_process_exec","args":[{{"name":"pathname","type":"const char*","value":"/bin/{comm}"}},{{"name":"pwd","type":"const char*","value":"/"}}]}}"#
    )
}

#[test]
fn a_pack_in_replay_finds_per_detector_and_its_hostile_detector_costs_only_itself() {
    let (dir, config) = pack_dir("detector-pack-replay");
    // Full batches: markers everywhere, traps in a few.
    let lines: Vec<String> = (1..=300)
        .map(|pid| match pid % 30 {
            0 => exec_line(pid, "packtrap"),
            n if n % 3 == 0 => exec_line(pid, "packmark"),
            _ => exec_line(pid, "ls"),
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
    // 90 markers: every one found by each innocent detector.
    for id in ["PACK-FIND-1", "PACK-FIND-2"] {
        assert_eq!(findings_of(&findings, id).len(), 90, "{id}: {stderr}");
        assert!(summary_of(&stderr, id).contains("(0 traps"), "{stderr}");
    }
    assert!(quarantine_recorded(
        &out.stdout
            .split(|&b| b == b'\n')
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>(),
        "PACK-HOSTILE"
    ));
    let hostile = findings_of(&findings, "PACK-HOSTILE").len();
    assert!(hostile < 90, "{hostile}");
}

#[test]
fn sigbox_test_runs_vectors_against_a_packs_detectors() {
    let dir = temp_dir("detector-pack-vectors");
    let vectors = dir.join("pack.jsonl");
    let event = |comm: &str| {
        format!(
            r#"{{"eventName":"sched_process_exec","processName":"{comm}","args":[{{"name":"pwd","type":"const char*","value":"/"}}]}}"#
        )
    };
    std::fs::write(
        &vectors,
        [
            format!(
                r#"{{"case":"one finds","detector":"PACK-FIND-1","event":{},"expect":{{"findings":[{{"detector":"PACK-FIND-1"}}]}}}}"#,
                event("packmark")
            ),
            format!(
                r#"{{"case":"two finds","detector":"PACK-FIND-2","event":{},"expect":{{"findings":[{{"detector":"PACK-FIND-2"}}]}}}}"#,
                event("packmark")
            ),
            format!(
                r#"{{"case":"nothing else","detector":"PACK-HOSTILE","event":{},"expect":"none"}}"#,
                event("ls")
            ),
        ]
        .join("\n"),
    )
    .unwrap();
    let pack = test_module("pack-hostile");
    // `sigbox inspect` lists the pack's detectors.
    let inspected: Value =
        serde_json::from_slice(&sigbox(&["inspect", pack.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(inspected["contract"], "0.3-pack");
    let ids: Vec<&str> = (inspected["detectors"].as_array().unwrap().iter())
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, PACK);
    let out = sigbox(&["test", pack.to_str().unwrap(), vectors.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");

    // A trap is never a pass; a case must name its detector.
    std::fs::write(
        &vectors,
        [
            format!(
                r#"{{"detector":"PACK-HOSTILE","event":{},"expect":"none"}}"#,
                event("packtrap")
            ),
            format!(r#"{{"event":{},"expect":"none"}}"#, event("ls")),
        ]
        .join("\n"),
    )
    .unwrap();
    let out = sigbox(&["test", pack.to_str().unwrap(), vectors.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("0 passed, 2 failed"), "{stdout}");
    assert!(stdout.contains("name the detector"), "{stdout}");
}

/// `bytes` with a custom section appended: the same pack, new bytes (a
/// new version to the daemon, as a rebuild would be).
fn with_custom_section(mut bytes: Vec<u8>, payload: &str) -> Vec<u8> {
    let name = b"sigbox-test";
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one-byte LEB128 sizes only");
    bytes.extend([0u8, size as u8, name.len() as u8]);
    bytes.extend(name);
    bytes.extend(payload.as_bytes());
    bytes
}

#[test]
fn a_pack_is_hot_swapped_as_one_module() {
    let dir = temp_dir("detector-pack-swap");
    let signatures = dir.join("signatures");
    std::fs::create_dir(&signatures).unwrap();
    let original = std::fs::read(test_module("pack-hostile")).unwrap();
    let publish = |bytes: &[u8]| {
        let temp = dir.join("pack.wasm");
        std::fs::write(&temp, bytes).unwrap();
        sigbox_e2e::sign(&temp);
        std::fs::rename(&temp, signatures.join("pack.wasm")).unwrap();
    };
    publish(&with_custom_section(original.clone(), "v1"));
    let (daemon, mut stdin) = Daemon::start_piped(
        &["replay", "-s", signatures.to_str().unwrap(), "-"],
        "for signature changes",
    );
    let mut send = |pid: u64| {
        use std::io::Write;
        stdin
            .write_all(format!("{}\n", exec_line(pid, "packmark")).as_bytes())
            .unwrap();
        stdin.flush().unwrap();
    };
    let mut expected: Vec<String> = PACK.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    send(1);
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(120), |lines| ids_for(lines, 1)
            == expected),
        "{}",
        daemon.stderr_text()
    );
    // A new version of the file replaces every detector at once.
    publish(&with_custom_section(original, "v2"));
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "replaced signature PACK-FIND-1"),
        "{}",
        daemon.stderr_text()
    );
    send(2);
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(120), |lines| ids_for(lines, 2)
            == expected),
        "{}",
        daemon.stderr_text()
    );
    drop(stdin);
    let stopped = daemon.wait();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    // Loaded as three detectors, each once per version.
    for id in PACK {
        let loaded = stopped
            .stderr
            .lines()
            .filter(|l| l.contains(&format!("loaded signature {id} v1")))
            .count();
        assert_eq!(loaded, 1, "{id}:\n{}", stopped.stderr);
    }
}
