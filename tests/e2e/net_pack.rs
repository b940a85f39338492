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
