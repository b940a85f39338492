//! Tracee's signatures that network, process and kernel events serve
//! (`security_socket_connect`, `socket_dup`, `ptrace`, `process_vm_writev`,
//! `security_sb_mount`, `module_load`, and exec for TRC-1013) in the default
//! set, on a replayed Tracee v0.24.1 capture: each fires on exactly its
//! events, with Tracee's data, and no signature on the near misses.

use crate::file_pack::replay_default_set;
use sigbox_e2e::fixture;

/// hostProcessIds of tests/fixtures/net-pack-cases.jsonl each signature must
/// report (line N has hostProcessId 8100 + N), and no signature anything
/// else. Lines 12–24 fire nothing: fd 3 dup'ed onto a socket, stdout onto a
/// Unix socket, stdin connected to port 0, PTRACE_ATTACH, a process writing
/// into itself, a device mount in a starting container (`container-init`),
/// a host mount, an overlay mount, the Docker socket from the host and
/// opened read-only, the pod connecting elsewhere, another container and
/// a host process connecting to the pod's API address.
const EXPECTED: [(&str, &[u64]); 8] = [
    ("TRC-101", &[8101, 8102]),
    ("TRC-102", &[8103]),
    ("TRC-103", &[8104]),
    ("TRC-1025", &[8105]),
    ("TRC-1014", &[8106]),
    ("TRC-1017", &[8107]),
    ("TRC-1019", &[8108, 8109]),
    ("TRC-1013", &[8111]),
];

/// Tracee v0.24.1's finding event names and ids (6000 + the signature's
/// place in `signatures/golang/export.go`) and the events they come from.
const TRACEE_EVENTS: [(&str, &str, &str, &[&str]); 8] = [
    (
        "TRC-101",
        "stdio_over_socket",
        "6000",
        &["security_socket_connect", "socket_dup"],
    ),
    ("TRC-102", "anti_debugging", "6018", &["ptrace"]),
    ("TRC-103", "ptrace_code_injection", "6019", &["ptrace"]),
    (
        "TRC-1025",
        "process_vm_write_inject",
        "6020",
        &["process_vm_writev"],
    ),
    ("TRC-1014", "disk_mount", "6021", &["security_sb_mount"]),
    (
        "TRC-1017",
        "kernel_module_loading",
        "6025",
        &["module_load"],
    ),
    (
        "TRC-1019",
        "docker_abuse",
        "6004",
        &["security_socket_connect", "security_file_open"],
    ),
    (
        "TRC-1013",
        "k8s_api_connection",
        "6001",
        &["security_socket_connect"],
    ),
];

/// A finding's data, by name, without `detectedFrom`.
fn data(finding: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    finding["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|arg| arg["name"] != "detectedFrom")
        .map(|arg| {
            (
                arg["name"].as_str().unwrap().to_owned(),
                arg["value"].clone(),
            )
        })
        .collect()
}

#[test]
fn the_default_set_reports_exactly_the_matching_network_process_and_kernel_events() {
    let (by_id, findings, stderr) = replay_default_set(&fixture("net-pack-cases.jsonl"));
    for (id, pids) in EXPECTED {
        assert_eq!(
            by_id.get(id).map(Vec::as_slice).unwrap_or_default(),
            pids,
            "{id}; stderr: {stderr}"
        );
    }
    assert_eq!(by_id.len(), EXPECTED.len(), "{by_id:?}");
    assert!(
        stderr.contains("10 findings, 0 signature errors"),
        "{stderr}"
    );

    for (id, event_name, event_id, sources) in TRACEE_EVENTS {
        for finding in findings
            .iter()
            .filter(|f| f["metadata"]["Properties"]["signatureID"] == id)
        {
            assert_eq!(finding["eventName"], event_name, "{id}");
            assert_eq!(finding["eventId"], event_id, "{id}");
            let from = finding["args"]
                .as_array()
                .unwrap()
                .iter()
                .find(|arg| arg["name"] == "detectedFrom")
                .unwrap_or_else(|| panic!("{id}: no detectedFrom in {finding}"));
            let source = from["value"]["name"].as_str().unwrap();
            assert!(sources.contains(&source), "{id}: {finding}");
            let expected = match (id, finding["hostProcessId"].as_u64().unwrap()) {
                ("TRC-101", 8101) => serde_json::json!({
                    "File descriptor": 0, "IP address": "203.0.113.9", "Port": "4444"}),
                ("TRC-101", _) => serde_json::json!({
                    "File descriptor": 1, "IP address": "203.0.113.9", "Port": "4444"}),
                ("TRC-1013", _) => serde_json::json!({"ip": "10.96.0.1"}),
                // Tracee's other findings here carry no data.
                _ => serde_json::json!({}),
            };
            assert_eq!(
                serde_json::Value::Object(data(finding)),
                expected,
                "{id}: {finding}"
            );
        }
    }
    // TRC-1013's properties are Tracee's two, plus the named ones sigbox
    // always writes (empty).
    let k8s = findings
        .iter()
        .find(|f| f["metadata"]["Properties"]["signatureID"] == "TRC-1013")
        .unwrap();
    let properties = &k8s["metadata"]["Properties"];
    assert_eq!(properties["Severity"], 1);
    assert_eq!(
        properties["MITRE ATT&CK"],
        "Discovery: Cloud Service Discovery"
    );
    assert_eq!(k8s["metadata"]["Tags"], serde_json::json!(["container"]));
    for line in stderr.lines().filter(|l| l.contains(" traps, ")) {
        assert!(line.contains("(0 traps, 0 limit hits)"), "{line}");
    }
}

/// The capture's line `n` (1-based) with its container id set to `id`.
fn in_container(lines: &[&str], n: usize, id: &str) -> String {
    let mut event: serde_json::Value = serde_json::from_str(lines[n - 1]).unwrap();
    event["containerId"] = id.into();
    event["container"]["id"] = id.into();
    event.to_string()
}

/// TRC-1013 remembers at most 4096 containers: past that the one taught
/// longest ago is forgotten (its connect is no longer reported), counted
/// and logged, while the newest still are.
#[test]
fn trc_1013_forgets_the_oldest_container_past_its_cap() {
    const CAP: usize = 4096;
    let capture = std::fs::read_to_string(fixture("net-pack-cases.jsonl")).unwrap();
    let lines: Vec<&str> = capture.lines().collect();
    // Line 10 is a pod's exec teaching 10.96.0.1, line 11 its connect there.
    let (exec, connect) = (10, 11);
    let id = |n: usize| format!("{n:064x}");
    let mut events: Vec<String> = (0..=CAP)
        .map(|n| in_container(&lines, exec, &id(n)))
        .collect();
    // Container 0 was taught first and is forgotten; 1 and the last are not.
    for n in [0, 1, CAP] {
        events.push(in_container(&lines, connect, &id(n)));
    }
    let path = sigbox_e2e::temp_dir("trc-1013-cap").join("capture.jsonl");
    std::fs::write(&path, events.join("\n") + "\n").unwrap();
    let dir = sigbox_e2e::signatures_with("trc-1013-cap", &["trc-1013"]);
    let out = sigbox_e2e::sigbox(&[
        "replay",
        "--signatures",
        dir.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    let stderr = sigbox_e2e::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let reported: Vec<String> = sigbox_e2e::json_lines(&out.stdout)
        .iter()
        .map(|f| f["containerId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reported, vec![id(1), id(CAP)], "{stderr}");
    assert!(
        stderr.contains("forgot the Kubernetes API address of 1 containers so far"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 findings, 0 signature errors"),
        "{stderr}"
    );
}

/// Live, TRC-1013 learns addresses from `env`, which only `--exec-env`
/// collects: without it the daemon says so when the signature loads, as
/// for TRC-107. Needs root.
#[test]
fn trc_1013_live_without_exec_env_is_warned_about() {
    let dir = sigbox_e2e::signatures_with("net-pack-live", &["trc-1013"]);
    let Some((daemon, _)) = crate::live::start_live_with(&dir, &[]) else {
        return;
    };
    let warned = daemon.wait_for_stderr(std::time::Duration::from_secs(60), "reads `env`");
    let stderr = daemon.stderr_text();
    assert!(warned, "no warning that TRC-1013 reads env:\n{stderr}");
    let warning = stderr.lines().find(|l| l.contains("reads `env`")).unwrap();
    assert!(
        warning.contains("TRC-1013") && warning.contains("--exec-env"),
        "{warning}"
    );
    assert!(daemon.stop().status.success());
}
