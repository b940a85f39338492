//! The exec signature pack (TRC-105, TRC-107, TRC-1026, TRC-1027) in replay
//! on Tracee-format events, and TRC-1026/TRC-1027 live the way Tracee's
//! tester triggers them (running a program of that name). TRC-105 and
//! TRC-107 live: `pack_live.rs`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{fixture, json_lines, sigbox, signatures_with, temp_dir, text};

use crate::live::{spawn_fresh_copy, start_live};
use crate::pack_live::findings;

const PACK: [&str; 4] = ["trc-105", "trc-107", "trc-1026", "trc-1027"];

/// processIds of tests/fixtures/exec-pack-cases.jsonl each signature must
/// report (line N has processId 5000 + N), and nothing else.
const EXPECTED: [(&str, &[u64]); 4] = [
    // memfd:, /dev/shm/, /run/shm/; not /tmp/dev/shm/x nor /dev/shm itself.
    ("TRC-105", &[5001, 5002, 5003, 5018]),
    // LD_PRELOAD= or LD_LIBRARY_PATH= entries; not XLD_PRELOAD, LD_PRELOADX.
    ("TRC-107", &[5014, 5015, 5018, 5021]),
    // basename update-rc.d; not update-rc.dx.
    ("TRC-1026", &[5006]),
    // crontab, at, batch, launchd; not crontabx nor atd.
    ("TRC-1027", &[5008, 5010, 5011, 5012]),
];

#[test]
fn the_pack_reports_exactly_the_matching_tracee_events() {
    let dir = signatures_with("pack-replay", &PACK);
    let out = sigbox(&[
        "replay",
        "--signatures",
        dir.to_str().unwrap(),
        fixture("exec-pack-cases.jsonl").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let findings = json_lines(&out.stdout);
    let mut by_id: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for finding in &findings {
        let id = finding["metadata"]["Properties"]["signatureID"]
            .as_str()
            .unwrap()
            .to_owned();
        by_id
            .entry(id)
            .or_default()
            .push(finding["processId"].as_u64().unwrap());
    }
    for (id, pids) in EXPECTED {
        assert_eq!(
            by_id.get(id).map(Vec::as_slice).unwrap_or_default(),
            pids,
            "{id}; stderr: {stderr}"
        );
    }
    assert_eq!(by_id.len(), EXPECTED.len(), "{by_id:?}");

    // Tracee's metadata, as its Go signatures declare it.
    let first = |id: &str| {
        findings
            .iter()
            .find(|f| f["metadata"]["Properties"]["signatureID"] == id)
            .unwrap()
    };
    for (id, event_name, name, external_id) in [
        (
            "TRC-105",
            "fileless_execution",
            "Fileless execution detected",
            "T1620",
        ),
        (
            "TRC-107",
            "ld_preload",
            "LD_PRELOAD code injection detected",
            "T1574",
        ),
        (
            "TRC-1026",
            "rcd_modification",
            "Rcd modification detected",
            "T1037.004",
        ),
        (
            "TRC-1027",
            "scheduled_task_mod",
            "Scheduled tasks modification detected",
            "T1053.003",
        ),
    ] {
        let finding = first(id);
        assert_eq!(finding["eventName"], event_name, "{id}");
        let props = &finding["metadata"]["Properties"];
        assert_eq!(props["signatureName"], name, "{id}");
        assert_eq!(props["external_id"], external_id, "{id}");
    }
    // TRC-107 names the variable, as Tracee's finding data does.
    let preload = first("TRC-107");
    let data: Vec<&Value> = preload["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "LD_PRELOAD")
        .collect();
    assert_eq!(data.len(), 1, "{preload}");
    assert_eq!(data[0]["value"], "LD_PRELOAD=/tmp/evil.so");
}

/// Runs a copy of /usr/bin/true named `name` and returns its pid.
fn run_named(name: &str) -> u32 {
    let program = temp_dir("pack-named").join(name);
    std::fs::copy("/usr/bin/true", &program).unwrap();
    let mut child = spawn_fresh_copy(&mut Command::new(&program));
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    pid
}

#[test]
fn rcd_and_scheduled_task_tools_are_detected_live() {
    let dir = signatures_with("pack-live-tools", &["trc-1026", "trc-1027"]);
    let Some(daemon) = start_live(&dir) else {
        return;
    };
    let rcd = run_named("update-rc.d");
    let crontab = run_named("crontab");
    let other = run_named("crontabx");
    let found = |lines: &[String], id: &str, pid: u32| findings(lines, id, pid).len();
    let seen = daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
        found(lines, "TRC-1026", rcd) == 1 && found(lines, "TRC-1027", crontab) == 1
    });
    let stopped = daemon.stop();
    assert!(seen, "findings missing:\n{}", stopped.stderr);
    let lines = &stopped.stdout;
    assert_eq!(found(lines, "TRC-1026", rcd), 1);
    assert_eq!(found(lines, "TRC-1027", crontab), 1);
    assert_eq!(found(lines, "TRC-1026", crontab), 0);
    assert_eq!(found(lines, "TRC-1027", rcd), 0);
    assert_eq!(
        found(lines, "TRC-1026", other) + found(lines, "TRC-1027", other),
        0
    );
}
