//! `sigbox inspect`: a module's metadata, or why it is not a signature.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::engine::{Limits, LoadedSignature, Runtime};
use crate::error_chain;
use crate::sink::tracee_json::value_json;
use crate::wit::OriginFilter;

/// Prints a module's metadata as JSON, or why it is not a valid signature.
pub fn inspect(module: &Path) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(Limits::default()).context("cannot start the wasm engine")?;
    let signature = match LoadedSignature::load(&runtime, module, &[]) {
        Ok(signature) => signature,
        Err(error) => {
            eprintln!(
                "sigbox: not a valid signature: {}",
                crate::printable(&error_chain(&error))
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let info = signature.info();
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
            let filters: Vec<_> = s
                .filters
                .iter()
                .map(|f| json!({"field": f.field, "anyOf": f.any_of}))
                .collect();
            json!({"name": s.name, "origin": origin_name(s.origin), "filters": filters})
        })
        .collect();
    let report = json!({
        "file": info.path,
        "sha256": info.sha256,
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
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
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
