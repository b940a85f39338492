//! HOSTWORK-FILTERS: a test-only 0.2 module with the largest filter set the
//! host accepts: 32 selectors of 32 filters of 1,024 values. For an exec of
//! a program named `hwfilters`, 31 filters of every selector match (on
//! their last value) and the 32nd never does (a `pathname` no file has), so
//! the host checks every filter of every selector and the guest is never
//! called: the work is all the host's, done on this module's behalf.

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.2",
        world: "signature",
    });
}

use bindings::exports::sigbox::signature::detector::Guest;
use bindings::sigbox::signature::types::{
    Event, EventSelector, Field, FieldFilter, Metadata, OriginFilter, Outcome, Properties, Signal,
};

/// The host's bounds: selectors, filters per selector, values per filter.
const SELECTORS: usize = 32;
const FILTERS: usize = 32;
const VALUES: usize = 1024;

struct HostworkFilters;

/// `VALUES` values: junk, then `last`.
fn values(selector: usize, filter: usize, last: &str) -> Vec<String> {
    (1..VALUES)
        .map(|v| format!("hostwork-{selector}-{filter}-{v}"))
        .chain([last.to_owned()])
        .collect()
}

impl Guest for HostworkFilters {
    fn get_metadata() -> Metadata {
        Metadata {
            id: "HOSTWORK-FILTERS".into(),
            version: "1".into(),
            name: "The largest filter set (test only)".into(),
            event_name: "hostwork_filters".into(),
            description: "Declares 32 selectors of 32 filters of 1,024 values. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties {
                severity: 0,
                category: String::new(),
                technique: String::new(),
                kubernetes_technique: String::new(),
                mitre_id: String::new(),
                external_id: String::new(),
                extra: vec![],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        (0..SELECTORS)
            .map(|selector| EventSelector {
                name: "sched_process_exec".into(),
                origin: OriginFilter::Any,
                filters: (0..FILTERS)
                    .map(|filter| {
                        if filter + 1 < FILTERS {
                            FieldFilter {
                                field: "process-name".into(),
                                any_of: values(selector, filter, "hwfilters"),
                            }
                        } else {
                            FieldFilter {
                                field: "pathname".into(),
                                any_of: values(selector, filter, "/nonexistent/hostwork"),
                            }
                        }
                    })
                    .collect(),
                fields: vec![],
            })
            .collect()
    }

    fn init(_config: Vec<Field>) -> Result<(), String> {
        Ok(())
    }

    fn on_events(_events: Vec<Event>) -> Vec<Outcome> {
        Vec::new()
    }

    fn on_signal(_signal: Signal) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(HostworkFilters with_types_in bindings);
