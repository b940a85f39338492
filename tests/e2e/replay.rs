//! `sigbox replay`: Tracee JSON in, Tracee findings out, bad input survived.

use std::io::Write;
use std::process::Stdio;

use sigbox_e2e::{
    findings_of, fixture, json_lines, module, sigbox, signatures_with, temp_dir, text,
};

/// Lines of tests/fixtures/trc-1016-cases.jsonl whose event TRC-1016 must
/// report, by processId (each line N has processId 4000 + N): Tracee's own
/// positive cases, the 15-character comm, a containerised shell, http-nio.
const EXPECTED_PIDS: [u64; 7] = [4001, 4004, 4005, 4006, 4010, 4014, 4022];

#[test]
fn trc_1016_reports_exactly_the_matching_events() {
    let dir = signatures_with("replay-cases", &["trc-1016"]);
    let out = sigbox(&[
        "replay",
        "--signatures",
        dir.to_str().unwrap(),
        fixture("trc-1016-cases.jsonl").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "sigbox failed: {stderr}");
    let findings = json_lines(&out.stdout);
    let pids: Vec<u64> = findings
        .iter()
        .map(|f| f["processId"].as_u64().unwrap())
        .collect();
    assert_eq!(pids, EXPECTED_PIDS, "stderr: {stderr}");

    for finding in &findings {
        assert_eq!(finding["eventName"], "illegitimate_shell");
        assert_eq!(
            finding["eventId"], "6024",
            "Tracee v0.24.1's id for TRC-1016"
        );
        let metadata = &finding["metadata"];
        assert_eq!(metadata["Version"], "1");
        assert!(
            metadata["Description"]
                .as_str()
                .unwrap()
                .starts_with("A web-server program on your server spawned a shell program.")
        );
        let props = &metadata["Properties"];
        assert_eq!(props["signatureID"], "TRC-1016");
        assert_eq!(props["signatureName"], "Web server spawned a shell");
        assert_eq!(props["Severity"], 2);
        assert_eq!(props["Category"], "initial-access");
        assert_eq!(props["Technique"], "Exploit Public-Facing Application");
        assert_eq!(props["Kubernetes_Technique"], "");
        assert_eq!(
            props["id"],
            "attack-pattern--3f886f2a-874f-4333-b794-aa6075009b1c"
        );
        assert_eq!(props["external_id"], "T1190");
        let args = finding["args"].as_array().unwrap();
        assert_eq!(args.len(), 1, "TRC-1016 adds no data, only detectedFrom");
        assert_eq!(finding["argsNum"], 1);
        assert_eq!(args[0]["name"], "detectedFrom");
        let from = &args[0]["value"];
        assert_eq!(from["id"], 710);
        assert_eq!(from["name"], "sched_process_exec");
        let prev_comm = from["args"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "prev_comm")
            .expect("detectedFrom keeps the trigger's args");
        assert!(prev_comm["value"].is_string());
    }

    // Context is copied from the triggering event, including what sigbox does
    // not model itself (container image, Kubernetes, entity ids).
    let first = &findings[0];
    assert_eq!(first["processName"], "dash");
    assert_eq!(first["hostName"], "web-1");
    assert_eq!(first["timestamp"], 1_732_700_000_000_001_000_u64);
    assert_eq!(first["processEntityId"], 223);
    let containerised = &findings[5];
    assert_eq!(containerised["container"]["image"], "nginx:1.27");
    assert_eq!(containerised["kubernetes"]["podName"], "web-0");
    assert_eq!(
        containerised["containerId"],
        "3f4a9b2c1d0e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a"
    );

    // Malformed lines are reported with their number and skipped; the missing
    // and non-string prev_comm are signature errors, never findings.
    for line in [18, 19, 20, 21] {
        assert!(
            stderr.contains(&format!("line {line}: skipped")),
            "line {line} not reported: {stderr}"
        );
    }
    assert_eq!(stderr.matches("skipped").count(), 4, "{stderr}");
    assert!(
        stderr.contains("line 15") && stderr.contains("line 16"),
        "{stderr}"
    );
    assert!(stderr.contains("prev_comm"), "{stderr}");
    assert!(
        stderr.contains(
            "summary: 22 records, 18 events, 4 bad records, 7 findings, 2 signature errors"
        ),
        "{stderr}"
    );
    assert!(
        // 9 of the 17 exec events pass TRC-1016's host-side filters (the 7
        // matches and the 2 without a string prev_comm); the rest never
        // reach the guest.
        stderr.contains("TRC-1016 v1") && stderr.contains("9 events, 7 findings, 2 errors"),
        "{stderr}"
    );
}

#[test]
fn reads_stdin_and_prints_text() {
    let dir = signatures_with("replay-stdin", &["trc-1016"]);
    let mut child = sigbox_e2e::sigbox_command(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--output",
        "text",
        "-",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let events = std::fs::read(fixture("sample-events.jsonl")).unwrap();
    child.stdin.take().unwrap().write_all(&events).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].contains("TRC-1016 Web server spawned a shell (severity 2)"));
    assert!(lines[0].contains("pid 4002") && lines[0].contains("prev_comm \"nginx\""));
}

#[test]
fn invalid_modules_are_rejected_and_the_valid_one_still_runs() {
    let dir = signatures_with("replay-invalid", &["trc-1016"]);
    let valid = std::fs::read(module("trc-1016")).unwrap();
    std::fs::write(dir.join("a-truncated.wasm"), &valid[..valid.len() / 2]).unwrap();
    std::fs::write(dir.join("b-not-wasm.wasm"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(
        dir.join("c-core-module.wasm"),
        wat::parse_str("(module)").unwrap(),
    )
    .unwrap();
    let wrong_world =
        wat::parse_str(r#"(component (core module $m) (core instance (instantiate $m)))"#).unwrap();
    std::fs::write(dir.join("d-wrong-world.wasm"), wrong_world).unwrap();
    std::fs::write(dir.join("notes.txt"), b"not a module, ignored").unwrap();

    // The engine's own checks, which hold for whatever a trusted key signs
    // (by default these unsigned files are refused before them; see trust.rs).
    let out = sigbox(&[
        "replay",
        "--allow-unsigned",
        "--signatures",
        dir.to_str().unwrap(),
        fixture("trc-1016-cases.jsonl").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    // The valid one ran; the exit status says files were rejected.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("signature files failed to load"),
        "{stderr}"
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(
        findings_of(&lines, "TRC-1016").len(),
        EXPECTED_PIDS.len(),
        "{stderr}"
    );
    // Each rejected file is reported where findings go.
    assert_eq!(findings_of(&lines, "SIGBOX-COVERAGE").len(), 4, "{stderr}");
    let expectations = [
        ("a-truncated.wasm", "truncated: the file is"),
        ("b-not-wasm.wasm", "not a WebAssembly file"),
        (
            "c-core-module.wasm",
            "core WebAssembly module, not a component",
        ),
        (
            "d-wrong-world.wasm",
            "does not implement the sigbox:signature@0.1.0 world",
        ),
    ];
    for (file, reason) in expectations {
        let line = stderr
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} not reported: {stderr}"));
        assert!(
            line.contains(reason),
            "{file}: expected {reason:?} in {line:?}"
        );
    }
    assert!(!stderr.contains("notes.txt"), "{stderr}");
    assert!(
        stderr.contains("1 signatures loaded, 4 failed to load"),
        "{stderr}"
    );
}

#[test]
fn a_duplicate_signature_id_is_rejected() {
    let dir = signatures_with("replay-duplicate", &["trc-1016"]);
    std::fs::copy(module("trc-1016"), dir.join("trc-1016-copy.wasm")).unwrap();
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        fixture("sample-events.jsonl").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the duplicate failed to load: {stderr}"
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(
        findings_of(&lines, "TRC-1016").len(),
        1,
        "one finding, not two: {stderr}"
    );
    // The file that does not run is reported where findings go.
    let rejected = findings_of(&lines, "SIGBOX-COVERAGE");
    assert_eq!(rejected.len(), 1, "{lines:#?}");
    assert_eq!(rejected[0]["eventName"], "sigbox_module_rejected");
    assert!(
        stderr.contains("trc-1016.wasm: signature id TRC-1016 is already loaded from"),
        "{stderr}"
    );
}

#[test]
fn a_missing_signatures_directory_is_a_clear_error() {
    let out = sigbox(&["replay", "-s", "/nonexistent/sigs", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot list the signatures directory /nonexistent/sigs"),
        "{}",
        text(&out.stderr)
    );
}

/// An exec event without `pathname` or `argv` reaches a signature as
/// missing (its read is an error naming the argument, as Tracee's
/// `GetStringArgumentByName`), while `"pathname":""` is the empty string.
#[test]
fn a_missing_exec_argument_is_an_error_not_an_empty_value() {
    let dir = sigbox_e2e::temp_dir("replay-missing-args");
    std::fs::copy(
        sigbox_e2e::test_module("exec-args"),
        dir.join("exec-args.wasm"),
    )
    .unwrap();
    let event = |pid: u32, args: &str| {
        format!(
            r#"{{"timestamp":{pid},"processId":{pid},"hostProcessId":{pid},"processName":"x","eventId":"715","eventName":"sched_process_exec","args":[{args}]}}"#
        )
    };
    let lines = [
        event(1, r#"{"name":"argv","type":"[]string","value":["x"]}"#),
        event(2, r#"{"name":"pathname","type":"string","value":"/bin/x"}"#),
        event(
            3,
            r#"{"name":"pathname","type":"string","value":""},{"name":"argv","type":"[]string","value":[]}"#,
        ),
    ];
    let capture = dir.join("capture.jsonl");
    std::fs::write(&capture, lines.join("\n") + "\n").unwrap();
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        capture.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines = json_lines(&out.stdout);
    let findings = findings_of(&lines, "TEST-EXEC-ARGS");
    assert_eq!(
        findings.len(),
        1,
        "only the event with both arguments: {stderr}"
    );
    assert_eq!(findings[0]["hostProcessId"], 3);
    let data = |name: &str| {
        findings[0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .map(|a| a["value"].clone())
    };
    assert_eq!(data("pathname"), Some("".into()), "empty stays empty");
    assert_eq!(data("argc"), Some(0.into()));
    let error_on = |line: usize, field: &str| {
        stderr.lines().any(|l| {
            l.contains(&format!("line {line}"))
                && l.contains(&format!("argument {field} is missing"))
        })
    };
    assert!(error_on(1, "pathname"), "{stderr}");
    assert!(error_on(2, "argv"), "{stderr}");
}

/// Events no loaded signature selects are checked, not parsed into events
/// (issue 31): they are still records and events, still reported with their
/// line number when malformed, and a line whose name only looks unselected
/// (an `eventName` inside another object) is parsed and detected.
#[test]
fn unselected_events_are_counted_checked_and_never_built() {
    let dir = signatures_with("replay-unselected", &["trc-1016"]);
    let cases = std::fs::read_to_string(fixture("trc-1016-cases.jsonl")).unwrap();
    let positive = cases.lines().next().unwrap();
    let mut unselected: serde_json::Value = serde_json::from_str(positive).unwrap();
    unselected["eventName"] = "close".into();
    unselected["args"] = serde_json::json!([{"name": "fd", "type": "int", "value": 3}]);
    // The first `"eventName":` on the line is a decoy inside another object.
    let disguised = positive.replacen('{', r#"{"decoy":{"eventName":"close"},"#, 1);
    let input = [
        unselected.to_string(),
        positive.to_owned(),
        r#"{"eventName":"close","processId":"one"}"#.to_owned(),
        unselected.to_string(),
        disguised,
        r#"{"eventName":"close","args":[{"value":1}]}"#.to_owned(),
    ]
    .join("\n");
    let events = temp_dir("replay-unselected-events").join("events.jsonl");
    std::fs::write(&events, input).unwrap();
    let out = sigbox(&[
        "replay",
        "--signatures",
        dir.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(json_lines(&out.stdout).len(), 2, "{stderr}");
    assert!(
        stderr.contains("summary: 6 records, 4 events, 2 bad records, 2 findings"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 events no signature selects were checked, not parsed"),
        "{stderr}"
    );
    for (line, reason) in [(3, "invalid type"), (6, "missing field `name`")] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("line {line}: skipped")) && l.contains(reason)),
            "line {line}: {stderr}"
        );
    }
}
