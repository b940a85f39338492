//! The host's filters in front of the worker queues: the union of every
//! running signature's selectors, tested by the collector before an event
//! is queued, so what no signature can match never takes a queue slot
//! (where it could push out an event that matters) and is counted.

use crate::engine::{EventSelector, Selector};
use crate::event::{Event, Kind};

/// The distinct selectors of the running signatures, by event name.
///
/// Owned by the collector thread, which also applies every signature
/// change: it is rebuilt there on each one, so testing it takes no lock.
#[derive(Debug, Default)]
pub(super) struct HostFilter {
    /// Selectors of each kind the event table knows, in [`Kind::ALL`]'s order.
    known: [Vec<Selector>; Kind::ALL.len()],
    /// Selectors of other event names (replay may carry any).
    other: Vec<(String, Vec<Selector>)>,
}

impl HostFilter {
    /// The union of `selectors`; identical ones (e.g. two signatures
    /// selecting every exec) are tested once.
    pub(super) fn new<'a>(selectors: impl IntoIterator<Item = &'a EventSelector>) -> Self {
        let mut distinct: Vec<&EventSelector> = Vec::new();
        for selector in selectors {
            if !distinct.iter().any(|known| same_test(known, selector)) {
                distinct.push(selector);
            }
        }
        let mut filter = Self::default();
        for selector in distinct {
            let compiled = Selector::new(selector);
            match Kind::named(&selector.name) {
                Some(kind) => filter.known[kind.index()].push(compiled),
                None => match filter.other.iter_mut().find(|(n, _)| *n == selector.name) {
                    Some((_, list)) => list.push(compiled),
                    None => filter.other.push((selector.name.clone(), vec![compiled])),
                },
            }
        }
        filter
    }

    /// Whether any running signature's selector accepts `event`.
    pub(super) fn accepts(&self, event: &Event) -> bool {
        let selectors = match event.kind() {
            Some(kind) => &self.known[kind.index()],
            None => match self.other.iter().find(|(n, _)| n == event.name()) {
                Some((_, list)) => list,
                None => return false,
            },
        };
        selectors.iter().any(|selector| selector.accepts(event))
    }
}

/// Whether two selectors accept the same events (the fields they read do
/// not matter here).
fn same_test(a: &EventSelector, b: &EventSelector) -> bool {
    a.name == b.name && a.origin == b.origin && a.filters == b.filters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FieldFilter, OriginFilter};
    use crate::source::tracee_json::parse_event;

    fn selector(name: &str, comm: &[&str], fields: &[&str]) -> EventSelector {
        EventSelector {
            name: name.into(),
            origin: OriginFilter::Any,
            filters: vec![FieldFilter::equals("process-name", comm)],
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    fn event(name: &str, comm: &str) -> Event {
        parse_event(&format!(
            r#"{{"eventName":"{name}","processName":"{comm}","args":[]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_union_accepts_what_any_selector_accepts_and_tests_identical_ones_once() {
        let selectors = [
            selector("sched_process_exec", &["nginx"], &["pathname"]),
            // The same test reading other fields: tested once.
            selector("sched_process_exec", &["nginx"], &["argv"]),
            selector("sched_process_exec", &["sh"], &[]),
            selector("security_socket_connect", &["nc"], &[]),
        ];
        let filter = HostFilter::new(&selectors);
        assert_eq!(filter.known[Kind::SchedProcessExec.index()].len(), 2);
        assert!(filter.accepts(&event("sched_process_exec", "nginx")));
        assert!(filter.accepts(&event("sched_process_exec", "sh")));
        assert!(!filter.accepts(&event("sched_process_exec", "ls")));
        assert!(!filter.accepts(&event("security_file_open", "nginx")));
        // Names the event table lacks (replay) are filtered by name too.
        assert!(filter.accepts(&event("security_socket_connect", "nc")));
        assert!(!filter.accepts(&event("security_socket_connect", "ls")));
        assert!(!filter.accepts(&event("sched_process_exit", "nc")));
        assert!(!HostFilter::default().accepts(&event("sched_process_exec", "sh")));
    }
}
