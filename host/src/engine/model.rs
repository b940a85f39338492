//! What a signature says about itself and returns, in the host's own types:
//! metadata, selectors, findings and stream signals. Both contract versions
//! share these shapes; `contract` converts them from each version's
//! generated bindings, so nothing outside the engine names a WIT version.

use crate::event::Field;

/// Tracee's signature properties, named, plus any other key.
#[derive(Debug, Clone, PartialEq)]
pub struct Properties {
    /// Severity from 0 (info) to 4 (critical).
    pub severity: u8,
    /// MITRE ATT&CK tactic.
    pub category: String,
    /// MITRE ATT&CK technique name.
    pub technique: String,
    /// Technique in the Kubernetes threat matrix.
    pub kubernetes_technique: String,
    /// MITRE ATT&CK STIX id (Tracee's `id` property).
    pub mitre_id: String,
    /// MITRE ATT&CK external id (Tracee's `external_id`).
    pub external_id: String,
    /// Further properties, copied into findings as they are.
    pub extra: Vec<Field>,
}

/// What a signature is (Tracee's `GetMetadata`).
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Unique id, e.g. `TRC-1016`.
    pub id: String,
    /// The signature's own version.
    pub version: String,
    /// Short human-readable name.
    pub name: String,
    /// The event name findings are reported under.
    pub event_name: String,
    /// What a finding means.
    pub description: String,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Tracee-style properties.
    pub properties: Properties,
}

/// Which origins a selector accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OriginFilter {
    /// Every origin.
    Any,
    /// Only events on the host.
    Host,
    /// Only events in containers (starting or not).
    Container,
    /// Only events of starting containers.
    ContainerInit,
}

/// A condition checked before the signature is called: the field equals
/// one of `any_of`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldFilter {
    /// The field's name.
    pub field: String,
    /// The values accepted.
    pub any_of: Vec<String>,
}

/// One kind of event a signature wants, and the fields it reads (0.2; a
/// 0.1 selector reads none: it gets whole events).
#[derive(Debug, Clone, PartialEq)]
pub struct EventSelector {
    /// The event name.
    pub name: String,
    /// The origins accepted.
    pub origin: OriginFilter,
    /// Conditions that must all hold.
    pub filters: Vec<FieldFilter>,
    /// The fields projected into the sandbox, in order.
    pub fields: Vec<String>,
}

/// A detection: what the signature adds to its metadata and the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Key/value data; may be empty.
    pub data: Vec<Field>,
}

/// Something that happened to the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The source has no more events.
    SourceComplete,
}
