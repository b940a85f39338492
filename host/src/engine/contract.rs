//! The two contract versions a module may target, and conversions between
//! their types and the host's model ([`crate::wit`]).
//!
//! 0.2 modules get batches of projected events (only the fields they
//! declared); 0.1 modules get one whole `event` record per call. Metadata,
//! values and findings have the same shape in both, so converting them only
//! moves strings.

use super::bindings::{v1, v2};
use crate::wit::{
    EventSelector, Field, FieldFilter, Finding, Metadata, OriginFilter, Properties, Value,
};

/// The contract version a component was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ContractVersion {
    /// `sigbox:signature@0.1.0`: one whole event per call.
    #[serde(rename = "0.1")]
    V0_1,
    /// `sigbox:signature@0.2.0`: batches of declared fields.
    #[serde(rename = "0.2")]
    V0_2,
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V0_1 => "0.1",
            Self::V0_2 => "0.2",
        })
    }
}

type V2Types = v2::sigbox::signature::types::Value;

/// A 0.2 guest's value in the host's model.
pub fn value_from_v2(value: V2Types) -> Value {
    match value {
        V2Types::None => Value::None,
        V2Types::Boolean(b) => Value::Boolean(b),
        V2Types::Signed(n) => Value::Signed(n),
        V2Types::Unsigned(n) => Value::Unsigned(n),
        V2Types::Float(f) => Value::Float(f),
        V2Types::Text(s) => Value::Text(s),
        V2Types::TextList(l) => Value::TextList(l),
        V2Types::Json(s) => Value::Json(s),
    }
}

fn fields_from_v2(fields: Vec<v2::sigbox::signature::types::Field>) -> Vec<Field> {
    fields
        .into_iter()
        .map(|f| Field {
            name: f.name,
            value: value_from_v2(f.value),
        })
        .collect()
}

/// Configuration in the 0.2 guest's types.
pub fn config_to_v2(config: &[Field]) -> Vec<v2::sigbox::signature::types::Field> {
    config
        .iter()
        .map(|f| v2::sigbox::signature::types::Field {
            name: f.name.clone(),
            value: super::event_fields::to_guest(&f.value),
        })
        .collect()
}

/// A 0.2 guest's finding in the host's model.
pub fn finding_from_v2(finding: v2::sigbox::signature::types::Finding) -> Finding {
    Finding {
        data: fields_from_v2(finding.data),
    }
}

/// A 0.2 guest's metadata in the host's model.
pub fn metadata_from_v2(m: v2::sigbox::signature::types::Metadata) -> Metadata {
    let p = m.properties;
    Metadata {
        id: m.id,
        version: m.version,
        name: m.name,
        event_name: m.event_name,
        description: m.description,
        tags: m.tags,
        properties: Properties {
            severity: p.severity,
            category: p.category,
            technique: p.technique,
            kubernetes_technique: p.kubernetes_technique,
            mitre_id: p.mitre_id,
            external_id: p.external_id,
            extra: fields_from_v2(p.extra),
        },
    }
}

/// A 0.1 guest's selector in the host's model: it declares no fields (it
/// receives whole events).
pub fn selector_from_v1(s: v1::sigbox::signature::types::EventSelector) -> EventSelector {
    use v1::sigbox::signature::types::OriginFilter as V1;
    EventSelector {
        name: s.name,
        origin: match s.origin {
            V1::Any => OriginFilter::Any,
            V1::Host => OriginFilter::Host,
            V1::Container => OriginFilter::Container,
            V1::ContainerInit => OriginFilter::ContainerInit,
        },
        filters: s
            .filters
            .into_iter()
            .map(|f| FieldFilter {
                field: f.field,
                any_of: f.any_of,
            })
            .collect(),
        fields: Vec::new(),
    }
}

/// A 0.2 guest's origin for a host event's origin.
pub fn origin_to_v2(origin: crate::wit::Origin) -> v2::sigbox::signature::types::Origin {
    use crate::wit::Origin as Host;
    use v2::sigbox::signature::types::Origin as Guest;
    match origin {
        Host::Host => Guest::Host,
        Host::Container => Guest::Container,
        Host::ContainerInit => Guest::ContainerInit,
    }
}

/// The numeric context of a host event, as a 0.2 guest receives it.
pub fn context_to_v2(event: &crate::wit::Event) -> v2::sigbox::signature::types::Context {
    v2::sigbox::signature::types::Context {
        timestamp_ns: event.timestamp_ns,
        origin: origin_to_v2(event.origin),
        pid: event.pid,
        tid: event.tid,
        ppid: event.ppid,
        host_pid: event.host_pid,
        host_tid: event.host_tid,
        host_ppid: event.host_ppid,
        uid: event.uid,
        mount_ns: event.mount_ns,
        pid_ns: event.pid_ns,
        cgroup_id: event.cgroup_id,
        return_value: event.return_value,
    }
}
