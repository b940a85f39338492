//! What a signature says about itself and returns, in the host's own types:
//! metadata, selectors, findings and stream signals. The contract versions
//! share these shapes (a 0.1 or 0.2 filter is an `Equals` test); `contract`
//! converts them from each version's generated bindings, so nothing outside
//! the engine names a WIT version.

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

/// Which way an open may use its file (the access mode of open flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `O_RDONLY` or `O_RDWR` (Tracee's `IsFileRead`).
    Read,
    /// `O_WRONLY` or `O_RDWR` (Tracee's `IsFileWrite`).
    Write,
}

/// How a filter tests its field; a text test passes when any value matches.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterTest {
    /// The field equals one of the values (the only test before 0.3).
    Equals(Vec<String>),
    /// The field starts with one of the values.
    Prefix(Vec<String>),
    /// The field ends with one of the values.
    Suffix(Vec<String>),
    /// The field's last path component equals one of the values.
    BasenameIn(Vec<String>),
    /// The field is open flags allowing this access.
    AccessMode(Access),
}

/// A condition checked before the signature is called.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldFilter {
    /// The field's name.
    pub field: String,
    /// How it is tested.
    pub test: FilterTest,
}

impl FilterTest {
    /// The text values a text test compares with (none for `AccessMode`).
    pub fn values(&self) -> &[String] {
        match self {
            Self::Equals(v) | Self::Prefix(v) | Self::Suffix(v) | Self::BasenameIn(v) => v,
            Self::AccessMode(_) => &[],
        }
    }

    /// The test's name in the contract (`equals`, `prefix`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Equals(_) => "equals",
            Self::Prefix(_) => "prefix",
            Self::Suffix(_) => "suffix",
            Self::BasenameIn(_) => "basename-in",
            Self::AccessMode(_) => "access-mode",
        }
    }
}

impl FieldFilter {
    /// A filter passing events whose `field` equals one of `values`.
    pub fn equals(field: &str, values: &[&str]) -> Self {
        Self {
            field: field.to_owned(),
            test: FilterTest::Equals(values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }
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
