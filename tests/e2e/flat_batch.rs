//! The flat batch (`flat-detector`, issue 31): modules built with the Rust
//! SDK take their batches as one buffer, live from the kernel, and find
//! what they found before: the same findings, with the same field values.

use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{dir_with, findings_of, json_lines, module, sigbox, test_module};

use crate::live::{run_as, start_live};

/// A finding's data value `name` (the SDK signature's `Finding::data`).
fn data(finding: &Value, name: &str) -> Option<Value> {
    finding["args"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .map(|a| a["value"].clone())
}

#[test]
fn rust_sdk_signatures_take_flat_batches_and_find_live() {
    // TRC-1016 reads two texts in place; TEST-EXEC-ARGS reads a text and
    // a text list (decoded on first use).
    let dir = dir_with("flat-live", &[module("trc-1016"), test_module("exec-args")]);
    let out = sigbox(&["inspect", dir.to_str().unwrap()]);
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    for id in ["TRC-1016", "TEST-EXEC-ARGS"] {
        let report = reports.iter().find(|r| r["id"] == id).unwrap();
        assert_eq!(report["batches"], "flat", "{id}: {report:#}");
        assert_eq!(report["contract"], "0.3");
    }

    let Some(daemon) = start_live(&dir) else {
        return;
    };
    let shell = run_as("nginx", "exec /bin/sh -c 'true flat batch'");
    let found = |lines: &[String], id: &str| {
        lines
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .any(|f| {
                f["metadata"]["Properties"]["signatureID"] == id && f["hostProcessId"] == shell
            })
    };
    let seen = daemon.wait_for_stdout(Duration::from_secs(120), |lines| {
        found(lines, "TRC-1016") && found(lines, "TEST-EXEC-ARGS")
    });
    let stopped = daemon.stop();
    assert!(
        seen,
        "no findings for the shell {shell}:\n{}",
        stopped.stderr
    );
    assert!(stopped.status.success(), "{}", stopped.stderr);

    let lines = json_lines(stopped.stdout.join("\n").as_bytes());
    let of_shell = |id: &str| -> Vec<Value> {
        findings_of(&lines, id)
            .into_iter()
            .filter(|f| f["hostProcessId"] == shell)
            .cloned()
            .collect()
    };
    let trc = of_shell("TRC-1016");
    assert_eq!(trc.len(), 1, "{trc:#?}");
    assert_eq!(trc[0]["processName"], "sh");
    // The pid's two execs: the copy named nginx, then /bin/sh.
    let args: Vec<Value> = of_shell("TEST-EXEC-ARGS")
        .into_iter()
        .filter(|f| f["processName"] == "sh")
        .collect();
    assert_eq!(args.len(), 1, "{args:#?}");
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(
        data(&args[0], "pathname"),
        Some(sh.to_str().unwrap().into())
    );
    // /bin/sh, -c, "true flat batch"
    assert_eq!(data(&args[0], "argc"), Some(3.into()));
}
