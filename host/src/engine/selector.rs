//! A signature's event selectors, compiled for the dispatch path: event name,
//! origin and host-side field filters, all checked natively before an event
//! crosses into the sandbox.

use crate::wit::{Event, EventSelector, Origin, OriginFilter, Payload, Value};

/// An event field a filter can test.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FieldRef {
    ProcessName,
    ExecutablePath,
    HostName,
    ContainerId,
    Pathname,
    Cmdpath,
    InterpreterPathname,
    PrevComm,
    /// A generic argument (or an exec argument without a typed field).
    Argument(String),
}

impl FieldRef {
    fn parse(name: &str) -> Self {
        match name {
            "process-name" => Self::ProcessName,
            "executable-path" => Self::ExecutablePath,
            "host-name" => Self::HostName,
            "container-id" => Self::ContainerId,
            "pathname" => Self::Pathname,
            "cmdpath" => Self::Cmdpath,
            "interpreter-pathname" => Self::InterpreterPathname,
            "prev-comm" => Self::PrevComm,
            other => Self::Argument(other.to_owned()),
        }
    }

    /// The field's string value in `event`, if it has one.
    fn get<'e>(&self, event: &'e Event) -> Option<&'e str> {
        let exec = match &event.payload {
            Payload::Exec(exec) => Some(exec),
            Payload::Generic(_) => None,
        };
        let text = |value: &'e Value| match value {
            Value::Text(s) => Some(s.as_str()),
            _ => None,
        };
        match self {
            Self::ProcessName => Some(&event.process_name),
            Self::ExecutablePath => Some(&event.executable_path),
            Self::HostName => Some(&event.host_name),
            Self::ContainerId => Some(&event.container_id),
            Self::PrevComm => exec.and_then(|e| e.prev_comm.as_deref()),
            Self::Pathname => match &event.payload {
                Payload::Exec(exec) => Some(&exec.pathname),
                Payload::Generic(args) => argument(args, "pathname").and_then(text),
            },
            Self::Cmdpath => exec.map(|e| e.cmdpath.as_str()),
            Self::InterpreterPathname => exec.map(|e| e.interpreter_pathname.as_str()),
            Self::Argument(name) => match &event.payload {
                Payload::Exec(exec) => argument(&exec.extra, name).and_then(text),
                Payload::Generic(args) => argument(args, name).and_then(text),
            },
        }
    }
}

fn argument<'e>(fields: &'e [crate::wit::Field], name: &str) -> Option<&'e Value> {
    fields.iter().find(|f| f.name == name).map(|f| &f.value)
}

/// One compiled selector.
#[derive(Debug, Clone)]
pub struct Selector {
    name: String,
    origin: OriginFilter,
    filters: Vec<(FieldRef, Vec<String>)>,
}

impl Selector {
    /// Compiles a selector the signature declared.
    pub fn new(selector: &EventSelector) -> Self {
        Self {
            name: selector.name.clone(),
            origin: selector.origin,
            filters: selector
                .filters
                .iter()
                .map(|f| (FieldRef::parse(&f.field), f.any_of.clone()))
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
        self.name == event.name
            && origin_matches(self.origin, event.origin)
            && self.filters.iter().all(|(field, any_of)| {
                field
                    .get(event)
                    .is_none_or(|value| any_of.iter().any(|v| v == value))
            })
    }
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
    use crate::source::tracee_json::parse_event;
    use crate::wit::FieldFilter;

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
        in_container.origin = Origin::Container;
        assert!(!host_only.accepts(&in_container));
        let mut other = exec("sh", None);
        other.name = "openat".into();
        assert!(!host_only.accepts(&other));
    }
}
