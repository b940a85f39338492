//! `sigbox inspect`: a module's metadata, or why it is not a signature.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::engine::{Access, FieldFilter, FilterTest, OriginFilter};
use crate::engine::{Limits, LoadedSignature, Runtime, wasm_files};
use crate::error_chain;
use crate::event::fields::EventField;
use crate::sink::tracee_json::value_json;

/// Prints each module's metadata as JSON, or why it is not a valid
/// signature; directories stand for their `*.wasm` files. One file gives one
/// JSON object, anything else a JSON array. Exit status 1 if any module is
/// invalid.
pub fn inspect(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::for_daemon(Limits::default()).context("cannot start the wasm engine")?;
    let mut modules = Vec::new();
    for path in paths {
        if path.is_dir() {
            let files =
                wasm_files(path).with_context(|| format!("cannot list {}", path.display()))?;
            if files.is_empty() {
                eprintln!("sigbox: {}: no *.wasm files", path.display());
            }
            modules.extend(files);
        } else {
            modules.push(path.clone());
        }
    }
    let mut reports = Vec::new();
    let mut invalid = 0;
    for module in &modules {
        match LoadedSignature::load(&runtime, module, &[]) {
            Ok(signature) => {
                warn_unknown_fields(&signature);
                reports.push(report(&signature));
            }
            Err(error) => {
                invalid += 1;
                eprintln!(
                    "sigbox: not a valid signature: {}",
                    crate::printable(&error_chain(&error))
                );
            }
        }
    }
    let single_file = paths.len() == 1 && !paths[0].is_dir();
    if single_file {
        if let Some(report) = reports.pop() {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    } else {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if invalid > 0 || modules.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Warns (on stderr) of each field a selector declares or filters on that
/// Tracee's definition of the event lacks: it would always read `none`, and
/// a filter on it lets every event through.
fn warn_unknown_fields(signature: &LoadedSignature) {
    let info = signature.info();
    for selector in &info.selected_events {
        let filtered = selector.filters.iter().map(|f| &f.field);
        for field in selector.fields.iter().chain(filtered) {
            if EventField::is_unknown(&selector.name, field) {
                eprintln!(
                    "sigbox: {}: {} has no field {} in Tracee v0.24.1 (it reads none; a filter on it passes every event)",
                    crate::printable(&info.metadata.id),
                    crate::printable(&selector.name),
                    crate::printable(field)
                );
            }
        }
    }
}

/// A selector's filter: its field, its test, and the values or access mode
/// it accepts.
fn filter_json(filter: &FieldFilter) -> serde_json::Value {
    match &filter.test {
        FilterTest::AccessMode(access) => json!({
            "field": filter.field,
            "test": filter.test.kind(),
            "access": match access {
                Access::Read => "read",
                Access::Write => "write",
            },
        }),
        test => json!({"field": filter.field, "test": test.kind(), "anyOf": test.values()}),
    }
}

/// One module's metadata and selected events; a pack's, each of its
/// detectors' under `detectors` (the top level is its first detector's).
fn report(signature: &LoadedSignature) -> serde_json::Value {
    let mut report = report_info(signature.info());
    report["batches"] = json!(signature.batches());
    if !signature.members().is_empty() {
        let detectors: Vec<_> = (signature.members().iter())
            .map(|member| report_info(&member.info))
            .collect();
        report["detectors"] = json!(detectors);
    }
    report
}

/// One signature's (or pack detector's) metadata and selected events.
fn report_info(info: &crate::engine::SignatureInfo) -> serde_json::Value {
    let m = &info.metadata;
    let p = &m.properties;
    let extra: serde_json::Map<String, serde_json::Value> = p
        .extra
        .iter()
        .map(|f| (f.name.clone(), value_json(&f.value)))
        .collect();
    let selected: Vec<_> = info
        .selected_events
        .iter()
        .map(|s| {
            let filters: Vec<_> = s.filters.iter().map(filter_json).collect();
            json!({
                "name": s.name,
                "origin": origin_name(s.origin),
                "filters": filters,
                "fields": s.fields,
            })
        })
        .collect();
    json!({
        "file": info.path,
        "sha256": info.sha256,
        "contract": info.contract,
        "id": m.id,
        "version": m.version,
        "name": m.name,
        "eventName": m.event_name,
        "description": m.description,
        "tags": m.tags,
        "properties": {
            "Severity": p.severity,
            "Category": p.category,
            "Technique": p.technique,
            "Kubernetes_Technique": p.kubernetes_technique,
            "id": p.mitre_id,
            "external_id": p.external_id,
            "extra": extra,
        },
        "selectedEvents": selected,
    })
}

/// Tracee's spelling of an origin filter.
fn origin_name(origin: OriginFilter) -> &'static str {
    match origin {
        OriginFilter::Any => "*",
        OriginFilter::Host => "host",
        OriginFilter::Container => "container",
        OriginFilter::ContainerInit => "container-init",
    }
}
