//! The `eventId` of a finding names one signature: the same whatever the
//! number of workers, and for ports of Tracee's built-in signatures the id
//! Tracee v0.24.1 gives them (6000 + their place in Tracee's load order).

use std::collections::{BTreeMap, BTreeSet};

use sigbox_e2e::{dir_with, fixture, json_lines, module, sigbox, temp_dir, test_module, text};

/// Signature id → every eventId its findings carried in one replay.
fn event_ids_by_signature(workers: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules: Vec<_> = ["trc-1016", "trc-105", "trc-107", "trc-1026", "trc-1027"]
        .iter()
        .map(|name| module(name))
        .collect();
    // Fires on every exec: a signature id outside Tracee's table.
    modules.push(test_module("exec-echo"));
    let dir = dir_with("finding-ids", &modules);
    let events = temp_dir("finding-ids-events").join("events.jsonl");
    let mut lines = std::fs::read(fixture("exec-pack-cases.jsonl")).unwrap();
    lines.extend(std::fs::read(fixture("trc-1016-cases.jsonl")).unwrap());
    std::fs::write(&events, lines).unwrap();
    let out = sigbox(&[
        "replay",
        "--workers",
        workers,
        "--signatures",
        dir.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for finding in json_lines(&out.stdout) {
        let signature = finding["metadata"]["Properties"]["signatureID"]
            .as_str()
            .unwrap()
            .to_owned();
        let event_id = finding["eventId"].as_str().unwrap().to_owned();
        ids.entry(signature).or_default().insert(event_id);
    }
    ids
}

#[test]
fn each_signature_has_one_event_id_whatever_the_number_of_workers() {
    let one_worker = event_ids_by_signature("1");
    assert_eq!(one_worker.len(), 6, "every signature fired: {one_worker:?}");
    let mut owners = BTreeMap::new();
    for (signature, ids) in &one_worker {
        assert_eq!(ids.len(), 1, "{signature} carried {ids:?}");
        let id = ids.first().unwrap();
        if let Some(other) = owners.insert(id.clone(), signature.clone()) {
            panic!("{signature} and {other} both carry eventId {id}");
        }
    }
    // Tracee v0.24.1's built-in order (signatures/golang/export.go).
    let tracee = [
        ("TRC-1016", "6024"),
        ("TRC-105", "6023"),
        ("TRC-107", "6006"),
        ("TRC-1026", "6013"),
        ("TRC-1027", "6005"),
    ];
    for (signature, id) in tracee {
        assert_eq!(one_worker[signature].first().unwrap(), id, "{signature}");
    }
    let echo: u32 = one_worker["TEST-EXEC-ECHO"]
        .first()
        .unwrap()
        .parse()
        .unwrap();
    assert!((6100..=6998).contains(&echo), "{echo}");
    for workers in ["2", "3"] {
        assert_eq!(
            event_ids_by_signature(workers),
            one_worker,
            "--workers {workers}"
        );
    }
}
