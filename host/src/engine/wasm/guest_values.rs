//! Checks on what a guest hands the host (metadata, selectors, findings)
//! before any of it reaches a log line, the status file or a finding.
//!
//! Names that end up in log lines and text output (ids, event names, field
//! names, tags) are held to a small charset, as Tracee's ids are; free text
//! (names, descriptions, property values) may not contain control
//! characters; every string and list is bounded, so metadata copied into
//! each finding cannot multiply into megabytes.

use std::collections::HashSet;

use super::model::{EventSelector, FilterTest, Finding, Metadata};
use crate::event::{Field, Value};

/// Longest id, version, event name, field or tag name.
pub(crate) const MAX_NAME: usize = 64;
/// Longest signature name or property value.
pub(crate) const MAX_LABEL: usize = 256;
/// Longest description.
pub(crate) const MAX_DESCRIPTION: usize = 2048;
/// Most tags, extra properties, selectors, filters per selector.
pub(crate) const MAX_ITEMS: usize = 32;
/// Most values one field filter accepts.
pub(crate) const MAX_FILTER_VALUES: usize = 1024;

/// Keys of Tracee's `metadata.Properties` the host writes itself: an extra
/// property may not shadow them.
const RESERVED_PROPERTIES: &[&str] = &[
    "Severity",
    "Category",
    "Technique",
    "Kubernetes_Technique",
    "id",
    "external_id",
    "signatureID",
    "signatureName",
];

/// Finding argument names the host writes itself.
pub(crate) const RESERVED_FINDING_KEYS: &[&str] = &["detectedFrom"];

/// Checks metadata and selectors at load; the error says which item and why.
pub fn check_metadata(metadata: &Metadata, selected: &[EventSelector]) -> Result<(), String> {
    name("id", &metadata.id)?;
    name("version", &metadata.version)?;
    name("event-name", &metadata.event_name)?;
    label("name", &metadata.name, MAX_LABEL)?;
    label("description", &metadata.description, MAX_DESCRIPTION)?;
    count("tags", metadata.tags.len(), MAX_ITEMS)?;
    for tag in &metadata.tags {
        name("tag", tag)?;
    }
    let p = &metadata.properties;
    for (what, text) in [
        ("category", &p.category),
        ("technique", &p.technique),
        ("kubernetes-technique", &p.kubernetes_technique),
        ("mitre-id", &p.mitre_id),
        ("external-id", &p.external_id),
    ] {
        label(what, text, MAX_LABEL)?;
    }
    count("extra properties", p.extra.len(), MAX_ITEMS)?;
    for field in &p.extra {
        key("extra property name", &field.name)?;
        if let Some(reserved) = RESERVED_PROPERTIES
            .iter()
            .find(|r| r.eq_ignore_ascii_case(&field.name))
        {
            return Err(format!(
                "extra property {:?} would shadow the host's own {reserved:?}",
                field.name
            ));
        }
        if value_bytes(&field.value) > MAX_LABEL {
            return Err(format!(
                "extra property {} is longer than {MAX_LABEL} bytes",
                field.name
            ));
        }
        if let Value::Text(text) = &field.value {
            label("extra property value", text, MAX_LABEL)?;
        }
    }

    if selected.is_empty() {
        return Err("selects no events".into());
    }
    count("selected events", selected.len(), MAX_ITEMS)?;
    for selector in selected {
        name("selected event name", &selector.name)?;
        count("filters", selector.filters.len(), MAX_ITEMS)?;
        for filter in &selector.filters {
            name("filter field", &filter.field)?;
            let values = filter.test.values();
            if values.is_empty() && !matches!(filter.test, FilterTest::AccessMode(_)) {
                return Err(format!(
                    "the {} filter on {} accepts no value",
                    filter.test.kind(),
                    filter.field
                ));
            }
            count("filter values", values.len(), MAX_FILTER_VALUES)?;
            for value in values {
                label("filter value", value, MAX_LABEL)?;
            }
        }
        count("fields", selector.fields.len(), MAX_ITEMS)?;
        for (index, field) in selector.fields.iter().enumerate() {
            name("field", field)?;
            if selector.fields[..index].contains(field) {
                return Err(format!(
                    "selector {} declares field {field} twice",
                    selector.name
                ));
            }
        }
    }
    Ok(())
}

/// Checks the field names of a finding: each is a short name, none is a
/// key the host writes itself, none repeats. Linear in the number of keys
/// (a hash set of those seen), so a finding of many keys costs the host
/// no more than reading them.
pub fn check_finding(finding: &Finding) -> Result<(), String> {
    let mut seen = HashSet::with_capacity(finding.data.len());
    for field in &finding.data {
        key("finding data key", &field.name)?;
        if RESERVED_FINDING_KEYS.contains(&field.name.as_str()) {
            return Err(format!(
                "finding data key {:?} is reserved for the host",
                field.name
            ));
        }
        if !seen.insert(field.name.as_str()) {
            return Err(format!("finding data key {:?} repeats", field.name));
        }
    }
    Ok(())
}

/// Bytes of data a finding carries (names plus values).
pub fn finding_bytes(finding: &Finding) -> usize {
    finding
        .data
        .iter()
        .map(|field: &Field| field.name.len() + value_bytes(&field.value))
        .sum()
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Text(s) | Value::Json(s) => s.len(),
        Value::TextList(list) => list.iter().map(|s| s.len() + 1).sum(),
        _ => 8,
    }
}

/// A short identifier: 1 to [`MAX_NAME`] of `A-Z a-z 0-9 _ . : -`,
/// starting with a letter or digit.
fn name(what: &str, text: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    let starts_well = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if text.is_empty() {
        return Err(format!("empty {what}"));
    }
    if text.len() > MAX_NAME || !starts_well || !text.chars().all(allowed) {
        return Err(format!(
            "{what} {} is not 1-{MAX_NAME} of A-Z a-z 0-9 _ . : - starting with a letter or digit",
            crate::printable(cut(text, MAX_NAME + 16))
        ));
    }
    Ok(())
}

/// A key of a finding's data or an extra property: as [`name`], but words
/// may be joined by single spaces and `&` is allowed, since Tracee's own
/// keys include `File descriptor`, `IP address` and `MITRE ATT&CK`.
fn key(what: &str, text: &str) -> Result<(), String> {
    let words_are_names = text
        .split(' ')
        .all(|word| name(what, &word.replace('&', "_")).is_ok());
    if text.len() <= MAX_NAME && words_are_names {
        return Ok(());
    }
    Err(format!(
        "{what} {} is not 1-{MAX_NAME} of A-Z a-z 0-9 _ . : - & in words separated by single spaces, each starting with a letter or digit",
        crate::printable(cut(text, MAX_NAME + 16))
    ))
}

/// Free text: at most `max` bytes, no control characters.
fn label(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!("{what} is {} bytes, over {max}", text.len()));
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "{what} {} contains control characters",
            crate::printable(cut(text, MAX_NAME))
        ));
    }
    Ok(())
}

fn count(what: &str, n: usize, max: usize) -> Result<(), String> {
    if n > max {
        return Err(format!("{n} {what}, over {max}"));
    }
    Ok(())
}

fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{FieldFilter, OriginFilter, Properties};

    fn metadata(id: &str) -> Metadata {
        Metadata {
            id: id.into(),
            version: "1".into(),
            name: "Web server spawned a shell".into(),
            event_name: "illegitimate_shell".into(),
            description: "A web server spawned a shell.".into(),
            tags: vec!["linux".into()],
            properties: Properties {
                severity: 2,
                category: "initial-access".into(),
                technique: String::new(),
                kubernetes_technique: String::new(),
                mitre_id: String::new(),
                external_id: "T1190".into(),
                extra: vec![],
            },
        }
    }

    fn exec() -> Vec<EventSelector> {
        vec![EventSelector {
            name: "sched_process_exec".into(),
            origin: OriginFilter::Any,
            filters: vec![FieldFilter {
                field: "prev-comm".into(),
                test: FilterTest::Equals(vec!["nginx".into()]),
            }],
            fields: vec!["prev_comm".into()],
        }]
    }

    #[test]
    fn tracee_like_metadata_passes() {
        check_metadata(&metadata("TRC-1016"), &exec()).unwrap();
    }

    #[test]
    fn ids_that_could_forge_log_lines_are_refused() {
        for id in [
            "EVIL\nsigbox: summary: forged",
            "A\u{1b}[2J",
            "",
            "-X",
            &"A".repeat(1000),
        ] {
            let error = check_metadata(&metadata(id), &exec()).unwrap_err();
            assert!(
                !error.contains('\n') && !error.contains('\u{1b}'),
                "{error}"
            );
            assert!(error.len() < 300, "{error}");
        }
    }

    #[test]
    fn huge_or_controlled_text_is_refused() {
        let mut huge = metadata("A");
        huge.description = "x".repeat(10 << 20);
        assert!(
            check_metadata(&huge, &exec())
                .unwrap_err()
                .contains("description is 10485760 bytes")
        );
        let mut newline = metadata("A");
        newline.name = "a\nb".into();
        assert!(check_metadata(&newline, &exec()).is_err());
    }

    #[test]
    fn extra_properties_cannot_shadow_host_keys() {
        let mut shadow = metadata("A");
        shadow.properties.extra = vec![Field {
            name: "signatureID".into(),
            value: Value::Text("TRC-1016".into()),
        }];
        assert!(
            check_metadata(&shadow, &exec())
                .unwrap_err()
                .contains("shadow")
        );
    }

    #[test]
    fn finding_keys_are_names_and_never_the_hosts() {
        let finding = |names: &[&str]| Finding {
            data: names
                .iter()
                .map(|n| Field {
                    name: (*n).into(),
                    value: Value::None,
                })
                .collect(),
        };
        check_finding(&finding(&["pathname", "prev_comm"])).unwrap();
        assert!(check_finding(&finding(&["detectedFrom"])).is_err());
        assert!(check_finding(&finding(&["a", "a"])).is_err());
        assert!(check_finding(&finding(&["a\nb"])).is_err());
    }

    #[test]
    fn tracees_keys_with_spaces_and_ampersands_pass() {
        let finding = |name: &str| Finding {
            data: vec![Field {
                name: name.into(),
                value: Value::None,
            }],
        };
        // TRC-101's data and TRC-1013's property.
        for good in ["File descriptor", "IP address", "MITRE ATT&CK", "a_b c.d"] {
            check_finding(&finding(good)).unwrap();
            let mut meta = metadata("TRC-1");
            meta.properties.extra = vec![Field {
                name: good.into(),
                value: Value::Text("x".into()),
            }];
            check_metadata(&meta, &exec()).unwrap();
        }
        for bad in [
            " lead",
            "trail ",
            "two  spaces",
            "&amp",
            "a &b",
            "tab\there",
            "a\nb",
            "",
        ] {
            let error = check_finding(&finding(bad)).unwrap_err();
            assert!(error.contains("finding data key"), "{bad:?}: {error}");
        }
        let long = format!("{} b", "a".repeat(MAX_NAME));
        assert!(check_finding(&finding(&long)).is_err());
    }

    #[test]
    fn a_repeat_among_many_keys_is_found_wherever_it_is() {
        let keys: Vec<String> = (0..5_000).map(|i| format!("k{i}")).collect();
        let finding = |extra: &str| Finding {
            data: keys
                .iter()
                .map(String::as_str)
                .chain([extra])
                .map(|n| Field {
                    name: n.into(),
                    value: Value::None,
                })
                .collect(),
        };
        check_finding(&finding("last")).unwrap();
        for repeated in ["k0", "k2500", "k4999"] {
            let error = check_finding(&finding(repeated)).unwrap_err();
            assert!(error.contains(&format!("{repeated:?} repeats")), "{error}");
        }
    }
}
