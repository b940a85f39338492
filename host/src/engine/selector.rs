//! A signature's event selectors, compiled for the dispatch path: event name,
//! origin and host-side field filters, all checked natively before an event
//! crosses into the sandbox.

use std::collections::HashSet;

use super::model::{EventSelector, OriginFilter};
use crate::event::fields::EventField;
use crate::event::{Event, Kind, Origin, Value};

/// One compiled selector.
#[derive(Debug, Clone)]
pub struct Selector {
    name: String,
    /// The name's kind when the event table knows it: compared instead of
    /// the name on the dispatch path.
    kind: Option<Kind>,
    origin: OriginFilter,
    /// Each filtered field once, with the values every filter on it
    /// accepts (their intersection), hashed: one lookup per field per
    /// event, however many filters and values were declared.
    filters: Vec<(EventField, HashSet<String>)>,
    /// The fields a 0.2 signature reads, in the order it declared them.
    fields: Vec<EventField>,
}

impl Selector {
    /// Compiles a selector the signature declared.
    pub fn new(selector: &EventSelector) -> Self {
        Self {
            name: selector.name.clone(),
            kind: Kind::named(&selector.name),
            origin: selector.origin,
            filters: merged_filters(selector),
            fields: selector
                .fields
                .iter()
                .map(|f| EventField::resolve(&selector.name, f))
                .collect(),
        }
    }

    /// The event name it selects.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `event` should be passed to the signature. A filtered field
    /// the event lacks (or that is not a string) lets the event through, so
    /// the signature still sees malformed events.
    pub fn accepts(&self, event: &Event) -> bool {
        let named = match (self.kind, event.kind()) {
            (Some(kind), Some(event_kind)) => kind == event_kind,
            (None, None) => self.name == event.name(),
            _ => false,
        };
        named
            && origin_matches(self.origin, event.context.origin)
            && self
                .filters
                .iter()
                .all(|(field, any_of)| field.text(event).is_none_or(|value| any_of.contains(value)))
    }
}

impl Selector {
    /// The values of the declared fields of `event`, in declared order:
    /// what a 0.2 signature receives.
    pub fn project<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = Value> + 'a {
        self.fields.iter().map(|field| field.value(event))
    }
}

/// The selector's filters, one per field: filters on the same field must
/// all hold, so the field's value must be in every one of their lists.
fn merged_filters(selector: &EventSelector) -> Vec<(EventField, HashSet<String>)> {
    let mut merged: Vec<(EventField, HashSet<String>)> = Vec::new();
    for filter in &selector.filters {
        let field = EventField::resolve(&selector.name, &filter.field);
        match merged.iter_mut().find(|(known, _)| *known == field) {
            Some((_, values)) => values.retain(|v| filter.any_of.contains(v)),
            None => merged.push((field, filter.any_of.iter().cloned().collect())),
        }
    }
    merged
}

/// Whether a selector's origin filter accepts an event's origin.
fn origin_matches(filter: OriginFilter, origin: Origin) -> bool {
    match filter {
        OriginFilter::Any => true,
        OriginFilter::Host => origin == Origin::Host,
        OriginFilter::Container => matches!(origin, Origin::Container | Origin::ContainerInit),
        OriginFilter::ContainerInit => origin == Origin::ContainerInit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::FieldFilter;
    use crate::source::tracee_json::parse_event;

    fn selector(origin: OriginFilter, filters: &[(&str, &[&str])]) -> Selector {
        Selector::new(&EventSelector {
            name: "sched_process_exec".into(),
            origin,
            filters: filters
                .iter()
                .map(|(field, any_of)| FieldFilter {
                    field: (*field).into(),
                    any_of: any_of.iter().map(|s| (*s).to_owned()).collect(),
                })
                .collect(),
            fields: vec![],
        })
    }

    fn exec(comm: &str, prev_comm: Option<&str>) -> Event {
        let prev = prev_comm.map_or(String::new(), |p| {
            format!(r#",{{"name":"prev_comm","type":"const char*","value":"{p}"}}"#)
        });
        parse_event(&format!(
            r#"{{"eventName":"sched_process_exec","processName":"{comm}","args":[{{"name":"pathname","value":"/bin/{comm}"}}{prev}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn origin_filters() {
        assert!(origin_matches(OriginFilter::Any, Origin::Host));
        assert!(origin_matches(OriginFilter::Any, Origin::ContainerInit));
        assert!(origin_matches(OriginFilter::Host, Origin::Host));
        assert!(!origin_matches(OriginFilter::Host, Origin::Container));
        assert!(origin_matches(OriginFilter::Container, Origin::Container));
        assert!(origin_matches(
            OriginFilter::Container,
            Origin::ContainerInit
        ));
        assert!(!origin_matches(OriginFilter::Container, Origin::Host));
        assert!(origin_matches(
            OriginFilter::ContainerInit,
            Origin::ContainerInit
        ));
        assert!(!origin_matches(
            OriginFilter::ContainerInit,
            Origin::Container
        ));
    }

    #[test]
    fn field_filters_must_all_hold() {
        let shells = selector(
            OriginFilter::Any,
            &[("prev-comm", &["nginx"]), ("process-name", &["sh", "bash"])],
        );
        assert!(shells.accepts(&exec("sh", Some("nginx"))));
        assert!(shells.accepts(&exec("bash", Some("nginx"))));
        assert!(!shells.accepts(&exec("ls", Some("nginx"))));
        assert!(!shells.accepts(&exec("sh", Some("sshd"))));
        assert!(
            !shells.accepts(&exec("sh", Some("NGINX"))),
            "exact and case-sensitive"
        );
        let pathname = selector(OriginFilter::Any, &[("pathname", &["/bin/sh"])]);
        assert!(pathname.accepts(&exec("sh", None)));
        assert!(!pathname.accepts(&exec("ls", None)));
    }

    #[test]
    fn a_filter_of_many_values_accepts_each_of_them_and_nothing_else() {
        let values: Vec<String> = (0..1024).map(|v| format!("comm{v}")).collect();
        let names: Vec<&str> = values.iter().map(String::as_str).collect();
        let many = selector(OriginFilter::Any, &[("process-name", &names)]);
        for comm in ["comm0", "comm511", "comm1023"] {
            assert!(many.accepts(&exec(comm, None)), "{comm}");
        }
        assert!(!many.accepts(&exec("comm1024", None)));
        assert!(!many.accepts(&exec("comm", None)));
    }

    #[test]
    fn filters_on_one_field_must_all_hold() {
        let both = selector(
            OriginFilter::Any,
            &[
                ("process-name", &["sh", "bash", "zsh"]),
                ("process-name", &["bash", "zsh", "dash"]),
                ("process-name", &["zsh", "bash"]),
            ],
        );
        assert!(both.accepts(&exec("bash", None)));
        assert!(both.accepts(&exec("zsh", None)));
        assert!(!both.accepts(&exec("sh", None)));
        assert!(!both.accepts(&exec("dash", None)));
        let disjoint = selector(
            OriginFilter::Any,
            &[("process-name", &["sh"]), ("process-name", &["bash"])],
        );
        assert!(!disjoint.accepts(&exec("sh", None)));
        assert!(!disjoint.accepts(&exec("bash", None)));
    }

    #[test]
    fn a_missing_field_lets_the_event_through() {
        let shells = selector(OriginFilter::Any, &[("prev-comm", &["nginx"])]);
        assert!(shells.accepts(&exec("sh", None)));
        let argument = selector(OriginFilter::Any, &[("no_such_argument", &["x"])]);
        assert!(argument.accepts(&exec("sh", Some("nginx"))));
    }

    #[test]
    fn name_and_origin_still_apply() {
        let host_only = selector(OriginFilter::Host, &[]);
        assert!(host_only.accepts(&exec("sh", None)));
        let mut in_container = exec("sh", None);
        in_container.context.origin = Origin::Container;
        assert!(!host_only.accepts(&in_container));
        let mut other = exec("sh", None);
        other.name = crate::event::EventName::Other("openat".into());
        assert!(!host_only.accepts(&other));
        other.name = crate::event::EventName::Known(Kind::SecurityFileOpen);
        assert!(!host_only.accepts(&other));
    }
}
