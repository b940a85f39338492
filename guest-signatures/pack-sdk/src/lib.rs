//! Packs: several [`Signature`] types in one component (the WIT's `pack`
//! world), evaluated with one host call per batch for all of them. Export
//! them with [`export_pack!`]. (A crate of its own: the `pack` world's
//! generated export macros would clash with the `signature` world's in
//! `sigbox-sdk`.)
//!
//! A pack's detectors share one instance: one linear memory (a detector can
//! read and corrupt another's state), one CPU deadline per call, one signer.
//! Bundle only detectors that are shipped and trusted together.

/// The bindings of the `pack` world, sharing `sigbox-sdk`'s types and host
/// functions.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "pack",
        pub_export_macro: true,
        export_macro_name: "export_pack_world",
        default_bindings_module: "sigbox_pack::bindings",
        additional_derives: [PartialEq],
        with: {
            "sigbox:signature/types@0.3.0": sigbox_sdk::bindings::sigbox::signature::types,
            "sigbox:signature/host@0.3.0": sigbox_sdk::bindings::sigbox::signature::host,
        },
    });
}

pub use bindings::exports::sigbox::signature::detectors::{
    Acceptance, Member, PackEvent, PackOutcome,
};
pub use sigbox_sdk;
use sigbox_sdk::{Event, EventSelector, Field, Finding, Instance, Metadata, Signal, Signature};

/// One detector of a pack, as [`Pack`] drives it: a [`Signature`] in its
/// [`Instance`] (object-safe, so a pack holds detectors of any types).
pub trait Detector {
    /// [`Signature::metadata`].
    fn metadata(&self) -> Metadata;
    /// [`Signature::selected_events`].
    fn selected_events(&self) -> Vec<EventSelector>;
    /// The detector's `init` ([`Instance::init`]).
    fn init(&self, config: &[Field]) -> Result<(), String>;
    /// One event ([`Instance::on_event`]).
    fn on_event(&self, event: &Event<'_>) -> Result<Vec<Finding>, String>;
    /// [`Instance::on_signal`].
    fn on_signal(&self, signal: Signal) -> Result<(), String>;
}

impl<S: Signature> Detector for Instance<S> {
    fn metadata(&self) -> Metadata {
        S::metadata()
    }
    fn selected_events(&self) -> Vec<EventSelector> {
        S::selected_events()
    }
    fn init(&self, config: &[Field]) -> Result<(), String> {
        Instance::init(self, config)
    }
    fn on_event(&self, event: &Event<'_>) -> Result<Vec<Finding>, String> {
        Instance::on_event(self, event)
    }
    fn on_signal(&self, signal: Signal) -> Result<(), String> {
        Instance::on_signal(self, signal)
    }
}

/// The detectors of a pack, their selectors and the pack's field table:
/// what the exported `detectors` functions work on.
pub struct Pack {
    detectors: Vec<Box<dyn Detector>>,
    /// Per detector, its selectors (asked once).
    selectors: Vec<Vec<EventSelector>>,
    /// Per detector and selector, where each declared field's value is in
    /// an event's `fields` (the table's order): resolved once, so a
    /// detector looks its fields up among its own, by position.
    maps: Vec<Vec<Vec<u32>>>,
    /// Every field name the selectors declare, in order of first
    /// appearance: an event's `fields` hold one value per name.
    table: Vec<String>,
}

impl Pack {
    /// A pack of `detectors`, in the order the host will number them.
    pub fn new(detectors: Vec<Box<dyn Detector>>) -> Self {
        let selectors: Vec<Vec<EventSelector>> =
            detectors.iter().map(|d| d.selected_events()).collect();
        let table = field_table(&selectors);
        let maps = selectors
            .iter()
            .map(|selectors| {
                selectors
                    .iter()
                    .map(|selector| {
                        selector
                            .fields
                            .iter()
                            .map(|field| table.iter().position(|t| t == field).unwrap_or(0) as u32)
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Self {
            table,
            detectors,
            selectors,
            maps,
        }
    }

    /// The pack's field table (see the WIT's `detectors` interface).
    pub fn field_table(&self) -> &[String] {
        &self.table
    }

    /// The exported `members`.
    pub fn members(&self) -> Vec<Member> {
        self.detectors
            .iter()
            .zip(&self.selectors)
            .map(|(detector, selected)| Member {
                metadata: detector.metadata(),
                selected_events: selected.clone(),
            })
            .collect()
    }

    /// The exported `init` of detector `detector`.
    pub fn init(&self, detector: u32, config: &[Field]) -> Result<(), String> {
        self.detector(detector)?.init(config)
    }

    /// The exported `on-signal` of detector `detector`.
    pub fn on_signal(&self, detector: u32, signal: Signal) -> Result<(), String> {
        self.detector(detector)?.on_signal(signal)
    }

    /// The exported `on-events`: each event through each detector that
    /// accepted it, an outcome for each pair that found something or failed.
    pub fn on_events(&self, events: &[PackEvent]) -> Vec<PackOutcome> {
        let mut outcomes = Vec::new();
        for (position, event) in events.iter().enumerate() {
            for &Acceptance { detector, selector } in &event.accepted {
                let (detector_at, selector_at) = (detector as usize, selector as usize);
                let result = match self
                    .selectors
                    .get(detector_at)
                    .and_then(|s| s.get(selector_at))
                {
                    Some(chosen) => self.detectors[detector_at].on_event(
                        &Event::mapped(
                            &chosen.name,
                            &event.context,
                            &chosen.fields,
                            &event.fields,
                            &self.maps[detector_at][selector_at],
                        )
                        .at_position(position as u32),
                    ),
                    None => Err(format!(
                        "event names unknown detector {detector} or selector {selector}"
                    )),
                };
                if !matches!(&result, Ok(findings) if findings.is_empty()) {
                    outcomes.push(PackOutcome {
                        event: position as u32,
                        detector,
                        findings: result,
                    });
                }
            }
        }
        outcomes
    }

    fn detector(&self, detector: u32) -> Result<&dyn Detector, String> {
        self.detectors
            .get(detector as usize)
            .map(|d| &**d)
            .ok_or_else(|| format!("no detector {detector} in this pack"))
    }
}

/// Every field name `selectors` declare, in order of first appearance.
fn field_table(selectors: &[Vec<EventSelector>]) -> Vec<String> {
    let mut table: Vec<String> = Vec::new();
    for field in selectors.iter().flatten().flat_map(|s| &s.fields) {
        if !table.contains(field) {
            table.push(field.clone());
        }
    }
    table
}

/// What a pack's `detector` export says to a host that loads it as a
/// signature (a host without packs).
pub const NOT_A_SIGNATURE: &str = "this module is a pack (several detectors, the `pack` world): it needs a sigbox host that loads packs";

/// Exports [`Signature`] types as one pack (the WIT's `pack` world), in the
/// order given: `sigbox_sdk::export_pack!(TrcA, TrcB, TrcC);` at the root of
/// a `cdylib` crate. Each type keeps its own id, selectors and state; the
/// crates that define them need no change (a signature crate that is also an
/// `rlib` can be a dependency of a pack crate: its own `export_signature!`
/// exports nothing outside its own `cdylib`).
#[macro_export]
macro_rules! export_pack {
    ($($ty:ty),+ $(,)?) => {
        $crate::export_pack_with!(|| ::std::vec![
            $(::std::boxed::Box::new($crate::sigbox_sdk::Instance::<$ty>::new())
                as ::std::boxed::Box<dyn $crate::Detector>),+
        ]);
    };
}

/// Exports the detectors `make()` returns as one pack; [`export_pack!`] for
/// a list built by code (e.g. many instances of one const-generic type).
#[macro_export]
macro_rules! export_pack_with {
    ($make:expr) => {
        const _: () = {
            ::std::thread_local! {
                static __SIGBOX_PACK: $crate::Pack = $crate::Pack::new(($make)());
            }

            #[allow(dead_code)] // never constructed: only named by the wasm exports
            struct __SigboxPack;

            impl $crate::bindings::exports::sigbox::signature::detectors::Guest for __SigboxPack {
                fn members()
                -> ::std::vec::Vec<$crate::bindings::exports::sigbox::signature::detectors::Member>
                {
                    __SIGBOX_PACK.with(|pack| pack.members())
                }

                fn init(
                    detector: u32,
                    config: ::std::vec::Vec<$crate::sigbox_sdk::Field>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    __SIGBOX_PACK.with(|pack| pack.init(detector, &config))
                }

                fn on_events(
                    events: ::std::vec::Vec<
                        $crate::bindings::exports::sigbox::signature::detectors::PackEvent,
                    >,
                ) -> ::std::vec::Vec<
                    $crate::bindings::exports::sigbox::signature::detectors::PackOutcome,
                > {
                    __SIGBOX_PACK.with(|pack| pack.on_events(&events))
                }

                fn on_signal(
                    detector: u32,
                    signal: $crate::sigbox_sdk::Signal,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    __SIGBOX_PACK.with(|pack| pack.on_signal(detector, signal))
                }
            }

            // A host without packs sees a signature that will not start.
            impl $crate::bindings::exports::sigbox::signature::detector::Guest for __SigboxPack {
                fn get_metadata() -> $crate::sigbox_sdk::Metadata {
                    __SIGBOX_PACK.with(|pack| pack.members().remove(0).metadata)
                }

                fn selected_events() -> ::std::vec::Vec<$crate::sigbox_sdk::EventSelector> {
                    ::std::vec::Vec::new()
                }

                fn init(
                    _config: ::std::vec::Vec<$crate::sigbox_sdk::Field>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    Err($crate::NOT_A_SIGNATURE.into())
                }

                fn on_events(
                    events: ::std::vec::Vec<$crate::sigbox_sdk::WireEvent>,
                ) -> ::std::vec::Vec<$crate::sigbox_sdk::Outcome> {
                    let _ = events;
                    ::std::vec::Vec::new()
                }

                fn on_signal(
                    _signal: $crate::sigbox_sdk::Signal,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    Err($crate::NOT_A_SIGNATURE.into())
                }
            }

            #[cfg(target_arch = "wasm32")]
    $crate::bindings::export_pack_world!(__SigboxPack with_types_in $crate::bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{Context, Properties, Value};

    /// Finds events whose process is named `N` (its const parameter as text).
    struct Named<const N: u8>;

    impl<const N: u8> Signature for Named<N> {
        fn metadata() -> Metadata {
            Metadata {
                id: format!("NAMED-{N}"),
                version: "1".into(),
                name: String::new(),
                event_name: "named".into(),
                description: String::new(),
                tags: vec![],
                properties: Properties::none(),
            }
        }
        fn selected_events() -> Vec<EventSelector> {
            // Detector 2 declares a second field: the table is the union.
            let fields: &[&str] = if N == 2 {
                &["pwd", "process-name"]
            } else {
                &["process-name"]
            };
            vec![EventSelector::new("sched_process_exec").reading(fields)]
        }
        fn new(_config: &[Field]) -> Result<Self, String> {
            Ok(Self)
        }
        fn on_event(&mut self, event: &Event<'_>) -> Result<Vec<Finding>, String> {
            if event.text("process-name")? == N.to_string() {
                return Ok(vec![Finding { data: vec![] }]);
            }
            Ok(vec![])
        }
    }

    #[test]
    fn each_event_reaches_the_detectors_it_names_and_outcomes_name_them() {
        let pack = Pack::new(vec![
            Box::new(Instance::<Named<1>>::new()),
            Box::new(Instance::<Named<2>>::new()),
        ]);
        assert_eq!(pack.field_table(), ["process-name", "pwd"]);
        let ids: Vec<String> = pack.members().into_iter().map(|m| m.metadata.id).collect();
        assert_eq!(ids, ["NAMED-1", "NAMED-2"]);
        pack.init(0, &[]).unwrap();
        pack.init(1, &[]).unwrap();
        let event = |name: &str, accepted: &[u32]| PackEvent {
            context: Context::with_pid(1),
            accepted: accepted
                .iter()
                .map(|&detector| Acceptance {
                    detector,
                    selector: 0,
                })
                .collect(),
            fields: vec![Value::Text(name.into()), Value::None],
        };
        // "2" reaches both but only detector 1 (NAMED-2) finds it; "1" is
        // not sent to detector 0, so nothing finds it.
        let outcomes = pack.on_events(&[event("2", &[0, 1]), event("1", &[1])]);
        let pairs: Vec<(u32, u32)> = outcomes.iter().map(|o| (o.event, o.detector)).collect();
        assert_eq!(pairs, [(0, 1)]);
        assert!(pack.init(2, &[]).unwrap_err().contains("no detector 2"));
    }
}
