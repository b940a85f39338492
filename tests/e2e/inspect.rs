//! `sigbox inspect`: a module's metadata, or why it is not a signature.

use sigbox_e2e::{module, sigbox, temp_dir, text};

#[test]
fn shows_trc_1016_metadata() {
    let out = sigbox(&["inspect", module("trc-1016").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["id"], "TRC-1016");
    assert_eq!(report["version"], "1");
    assert_eq!(report["name"], "Web server spawned a shell");
    assert_eq!(report["eventName"], "illegitimate_shell");
    assert_eq!(report["properties"]["Severity"], 2);
    assert_eq!(report["properties"]["external_id"], "T1190");
    assert_eq!(
        report["selectedEvents"],
        serde_json::json!([{
            "name": "sched_process_exec",
            "origin": "*",
            "filters": [
                {
                    "field": "prev_comm",
                    "test": "equals",
                    "anyOf": ["nginx", "httpd", "httpd-foregroun", "http-nio", "lighttpd", "apache", "apache2"]
                },
                {
                    "field": "process-name",
                    "test": "equals",
                    "anyOf": ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"]
                }
            ],
            "fields": ["prev_comm", "process-name"]
        }])
    );
    assert_eq!(report["contract"], "0.3");
    assert_eq!(report["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn explains_why_a_file_is_not_a_signature() {
    let dir = temp_dir("inspect-bad");
    let bad = dir.join("bad.wasm");
    std::fs::write(&bad, b"hello").unwrap();
    let out = sigbox(&["inspect", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.wasm: not a WebAssembly file"),
        "{stderr}"
    );
}

/// A selector naming a field Tracee's definition of the event lacks is
/// warned about, checked against the host's event table; TRC-1016's are not.
#[test]
fn warns_of_fields_the_event_does_not_have() {
    let out = sigbox(&[
        "inspect",
        sigbox_e2e::test_module("misspelt-field").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("has no field"))
        .collect();
    assert_eq!(
        warnings.len(),
        2,
        "one for the field, one for the filter:\n{stderr}"
    );
    assert!(
        warnings.iter().all(|l| l.contains("TEST-MISSPELT-FIELD")
            && l.contains("sched_process_exec has no field prevcomm")),
        "{stderr}"
    );
    let clean = sigbox(&["inspect", module("trc-1016").to_str().unwrap()]);
    assert!(
        !text(&clean.stderr).contains("has no field"),
        "{}",
        text(&clean.stderr)
    );
}
