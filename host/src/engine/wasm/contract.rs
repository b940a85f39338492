//! The contract versions a module may target, and the conversions between
//! their generated types and the host's own ([`crate::event`],
//! [`super::model`]). This is the only place that names a WIT version's
//! types outside the generated bindings.
//!
//! 0.2 and 0.3 modules get batches of projected events (only the fields
//! they declared); 0.1 modules get one whole `event` record per call. 0.3
//! differs from 0.2 only in its filters' tests. Metadata, values and
//! findings have the same shape in all three, so one macro writes their
//! conversions for each version.

use super::bindings::{v1, v2, v3};
use super::model::{Access, EventSelector, FieldFilter, FilterTest};
use crate::event::{ArgType, Event, EventName, Kind, Value};

/// The contract version a component was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ContractVersion {
    /// `sigbox:signature@0.1.0`: one whole event per call.
    #[serde(rename = "0.1")]
    V0_1,
    /// `sigbox:signature@0.2.0`: batches of declared fields.
    #[serde(rename = "0.2")]
    V0_2,
    /// `sigbox:signature@0.3.0`: 0.2 with prefix, suffix, basename and
    /// access-mode filters.
    #[serde(rename = "0.3")]
    V0_3,
    /// A detector of a `sigbox:signature@0.3.0` pack (several detectors in
    /// one component, one call per batch for all of them).
    #[serde(rename = "0.3-pack")]
    V0_3Pack,
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V0_1 => "0.1",
            Self::V0_2 => "0.2",
            Self::V0_3 => "0.3",
            Self::V0_3Pack => "0.3 (pack)",
        })
    }
}

/// Conversions of the types both versions share, for the version whose
/// generated `types` module is `$types`.
macro_rules! shared_conversions {
    ($types:path) => {
        use crate::engine::model::{Finding, Metadata, OriginFilter, Properties, Signal};
        use crate::event::{Field, Origin, Value};
        use $types as guest;

        /// A guest's value in the host's types.
        pub fn value_in(value: guest::Value) -> Value {
            match value {
                guest::Value::None => Value::None,
                guest::Value::Boolean(b) => Value::Boolean(b),
                guest::Value::Signed(n) => Value::Signed(n),
                guest::Value::Unsigned(n) => Value::Unsigned(n),
                guest::Value::Float(f) => Value::Float(f),
                guest::Value::Text(s) => Value::Text(s),
                guest::Value::TextList(l) => Value::TextList(l),
                guest::Value::Json(s) => Value::Json(s),
            }
        }

        /// A host value in the guest's types, taking its strings.
        pub fn value_out(value: Value) -> guest::Value {
            match value {
                Value::None => guest::Value::None,
                Value::Boolean(b) => guest::Value::Boolean(b),
                Value::Signed(n) => guest::Value::Signed(n),
                Value::Unsigned(n) => guest::Value::Unsigned(n),
                Value::Float(f) => guest::Value::Float(f),
                Value::Text(s) => guest::Value::Text(s),
                Value::TextList(l) => guest::Value::TextList(l),
                Value::Json(s) => guest::Value::Json(s),
            }
        }

        /// Guest fields in the host's types.
        pub fn fields_in(fields: Vec<guest::Field>) -> Vec<Field> {
            fields
                .into_iter()
                .map(|f| Field::new(f.name, value_in(f.value)))
                .collect()
        }

        /// Host fields (configuration, arguments) in the guest's types.
        pub fn fields_out(fields: &[Field]) -> Vec<guest::Field> {
            fields
                .iter()
                .map(|f| guest::Field {
                    name: f.name.clone(),
                    value: value_out(f.value.clone()),
                })
                .collect()
        }

        /// A guest's finding in the host's types.
        pub fn finding_in(finding: guest::Finding) -> Finding {
            Finding {
                data: fields_in(finding.data),
            }
        }

        /// A guest's metadata in the host's types.
        pub fn metadata_in(m: guest::Metadata) -> Metadata {
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
                    extra: fields_in(p.extra),
                },
            }
        }

        /// A guest's origin filter in the host's types.
        pub fn origin_filter_in(filter: guest::OriginFilter) -> OriginFilter {
            match filter {
                guest::OriginFilter::Any => OriginFilter::Any,
                guest::OriginFilter::Host => OriginFilter::Host,
                guest::OriginFilter::Container => OriginFilter::Container,
                guest::OriginFilter::ContainerInit => OriginFilter::ContainerInit,
            }
        }

        /// An event's origin in the guest's types.
        pub fn origin_out(origin: Origin) -> guest::Origin {
            match origin {
                Origin::Host => guest::Origin::Host,
                Origin::Container => guest::Origin::Container,
                Origin::ContainerInit => guest::Origin::ContainerInit,
            }
        }

        /// A stream signal in the guest's types.
        pub fn signal_out(signal: Signal) -> guest::Signal {
            match signal {
                Signal::SourceComplete => guest::Signal::SourceComplete,
            }
        }
    };
}

/// Conversions for 0.1 modules.
pub mod to_v1 {
    shared_conversions!(super::v1::sigbox::signature::types);
}

/// Conversions for 0.2 modules.
pub mod to_v2 {
    shared_conversions!(super::v2::sigbox::signature::types);
}

/// Conversions for 0.3 modules. Its batches (events, outcomes, findings)
/// cross with 0.2's types, the shapes being the same, so their conversions
/// here go unused.
#[allow(dead_code)]
pub mod to_v3 {
    shared_conversions!(super::v3::sigbox::signature::types);
}

/// An event's ancestor as a 0.3 guest receives it (`host.ancestors`).
pub fn ancestor_out(a: &crate::event::Ancestor) -> v3::sigbox::signature::types::Ancestor {
    v3::sigbox::signature::types::Ancestor {
        pid: a.pid,
        host_pid: a.host_pid,
        entity_id: a.entity_id,
        process_name: a.process_name.to_string(),
        executable_path: a.executable_path.to_string(),
        uid: a.uid,
        start_ns: a.start_ns,
        exit_ns: a.exit_ns,
        container_id: a.container_id.to_string(),
    }
}

/// A 0.3 guest's selector in the host's types.
pub fn selector_from_v3(s: v3::sigbox::signature::types::EventSelector) -> EventSelector {
    use v3::sigbox::signature::types as guest;
    EventSelector {
        name: s.name,
        origin: to_v3::origin_filter_in(s.origin),
        filters: s
            .filters
            .into_iter()
            .map(|f| FieldFilter {
                field: f.field,
                test: match f.test {
                    guest::Test::Equals(values) => FilterTest::Equals(values),
                    guest::Test::Prefix(values) => FilterTest::Prefix(values),
                    guest::Test::Suffix(values) => FilterTest::Suffix(values),
                    guest::Test::BasenameIn(values) => FilterTest::BasenameIn(values),
                    guest::Test::AccessMode(guest::Access::Read) => {
                        FilterTest::AccessMode(Access::Read)
                    }
                    guest::Test::AccessMode(guest::Access::Write) => {
                        FilterTest::AccessMode(Access::Write)
                    }
                },
            })
            .collect(),
        fields: s.fields,
    }
}

/// A 0.2 guest's selector in the host's types: its filters compare exactly.
pub fn selector_from_v2(s: v2::sigbox::signature::types::EventSelector) -> EventSelector {
    EventSelector {
        name: s.name,
        origin: to_v2::origin_filter_in(s.origin),
        filters: s
            .filters
            .into_iter()
            .map(|f| FieldFilter {
                field: f.field,
                test: FilterTest::Equals(f.any_of),
            })
            .collect(),
        fields: s.fields,
    }
}

/// A 0.1 guest's selector in the host's types: it declares no fields (it
/// receives whole events).
pub fn selector_from_v1(s: v1::sigbox::signature::types::EventSelector) -> EventSelector {
    EventSelector {
        name: s.name,
        origin: to_v1::origin_filter_in(s.origin),
        filters: s
            .filters
            .into_iter()
            .map(|f| FieldFilter {
                field: f.field,
                test: FilterTest::Equals(f.any_of),
            })
            .collect(),
        fields: Vec::new(),
    }
}

/// The numeric context of a host event, as a 0.2 guest receives it.
pub fn context_to_v2(event: &Event) -> v2::sigbox::signature::types::Context {
    let c = &event.context;
    v2::sigbox::signature::types::Context {
        timestamp_ns: c.timestamp_ns,
        origin: to_v2::origin_out(c.origin),
        pid: c.pid,
        tid: c.tid,
        ppid: c.ppid,
        host_pid: c.host_pid,
        host_tid: c.host_tid,
        host_ppid: c.host_ppid,
        uid: c.uid,
        mount_ns: c.mount_ns,
        pid_ns: c.pid_ns,
        cgroup_id: c.cgroup_id,
        return_value: c.return_value,
    }
}

/// A host event as the 0.1 `event` record: exec events with their typed
/// payload (an argument the event lacks, or gave with another type, is
/// listed in `extra` under its name, `none` when missing, so it never passes
/// for the typed field's empty value), every other kind as name/value
/// arguments.
pub fn event_to_v1(event: &Event) -> v1::sigbox::signature::types::Event {
    use v1::sigbox::signature::types as guest;
    let c = &event.context;
    let payload = match event.name {
        EventName::Known(Kind::SchedProcessExec) => guest::Payload::Exec(exec_args_to_v1(event)),
        _ => guest::Payload::Generic(
            event
                .tracee_args()
                .map(|(name, _, value)| guest::Field {
                    name: name.to_owned(),
                    value: to_v1::value_out(value.clone()),
                })
                .collect(),
        ),
    };
    guest::Event {
        timestamp_ns: c.timestamp_ns,
        name: event.name().to_owned(),
        origin: to_v1::origin_out(c.origin),
        pid: c.pid,
        tid: c.tid,
        ppid: c.ppid,
        host_pid: c.host_pid,
        host_tid: c.host_tid,
        host_ppid: c.host_ppid,
        uid: c.uid,
        mount_ns: c.mount_ns,
        pid_ns: c.pid_ns,
        cgroup_id: c.cgroup_id,
        process_name: c.process_name.clone(),
        executable_path: c.executable_path.clone(),
        host_name: c.host_name.to_string(),
        container_id: c.container_id.clone(),
        return_value: c.return_value,
        payload,
    }
}

/// The slots of the exec arguments the 0.1 record has a typed field for,
/// and of the others (which go to its `extra` list), found once.
struct ExecSlots {
    typed: [usize; TYPED_EXEC.len()],
    untyped: Vec<usize>,
}

/// The 0.1 record's typed exec fields, in [`ExecSlots::typed`]'s order.
const TYPED_EXEC: [&str; 14] = [
    "pathname",
    "cmdpath",
    "argv",
    "interpreter_pathname",
    "prev_comm",
    "dev",
    "inode",
    "ctime",
    "inode_mode",
    "stdin_type",
    "stdin_path",
    "invoked_from_kernel",
    "pwd",
    "argv_truncated",
];

/// `prev_comm`'s place in [`TYPED_EXEC`].
const PREV_COMM: usize = 4;

static EXEC_SLOTS: std::sync::LazyLock<ExecSlots> = std::sync::LazyLock::new(|| {
    let def = Kind::SchedProcessExec.def();
    let typed = TYPED_EXEC.map(|name| def.slot(name).expect("a typed exec field is in the table"));
    let untyped = (0..def.slots())
        .filter(|slot| !typed.contains(slot))
        .collect();
    ExecSlots { typed, untyped }
});

/// The 0.1 typed exec payload of an exec event (see [`event_to_v1`]).
fn exec_args_to_v1(event: &Event) -> v1::sigbox::signature::types::ExecArgs {
    use v1::sigbox::signature::types as guest;
    let def = Kind::SchedProcessExec.def();
    let slots = &*EXEC_SLOTS;
    let mut extra = Vec::new();
    // Each typed field's value when it has the field's type; otherwise the
    // argument goes to `extra` as it is (`none` when missing, except for
    // `prev_comm`, optional in the record) and the field stays empty.
    let values: [Option<&Value>; TYPED_EXEC.len()] = std::array::from_fn(|index| {
        let slot = slots.typed[index];
        let value = &event.args[slot];
        let ty = def.arg(slot).ty;
        let fits = match (ty, value) {
            (ArgType::Text, Value::Text(_))
            | (ArgType::TextList, Value::TextList(_))
            | (ArgType::Boolean | ArgType::Flag, Value::Boolean(_)) => true,
            (ArgType::Flag, Value::None) => false,
            (ty, Value::Unsigned(n)) => ty.unsigned_max().is_some_and(|max| *n <= max),
            _ => false,
        };
        // Missing and optional in the record: a flag, or `prev_comm`.
        let quiet = value.is_none() && (ty == ArgType::Flag || index == PREV_COMM);
        if !fits && !quiet {
            extra.push(guest::Field {
                name: TYPED_EXEC[index].to_owned(),
                value: to_v1::value_out(value.clone()),
            });
        }
        fits.then_some(value)
    });
    let [
        pathname,
        cmdpath,
        argv,
        interpreter_pathname,
        prev_comm,
        dev,
        inode,
        ctime,
        inode_mode,
        stdin_type,
        stdin_path,
        invoked_from_kernel,
        pwd,
        argv_truncated,
    ] = values;
    let text = |value: Option<&Value>| value.and_then(Value::as_text).unwrap_or("").to_owned();
    let unsigned = |value: Option<&Value>| match value {
        Some(Value::Unsigned(n)) => *n,
        _ => 0,
    };
    let small = |value: Option<&Value>| u32::try_from(unsigned(value)).unwrap_or(0);
    let boolean = |value: Option<&Value>| matches!(value, Some(Value::Boolean(true)));
    for &slot in &slots.untyped {
        let value = &event.args[slot];
        let arg = def.arg(slot);
        if value.is_none() || (arg.ty == ArgType::Flag && *value == Value::Boolean(false)) {
            continue;
        }
        extra.push(guest::Field {
            name: arg.name.to_owned(),
            value: to_v1::value_out(value.clone()),
        });
    }
    extra.extend(event.extra.iter().map(|f| guest::Field {
        name: f.name.clone(),
        value: to_v1::value_out(f.value.clone()),
    }));
    guest::ExecArgs {
        pathname: text(pathname),
        cmdpath: text(cmdpath),
        argv: match argv {
            Some(Value::TextList(list)) => list.clone(),
            _ => Vec::new(),
        },
        argv_truncated: boolean(argv_truncated),
        interpreter_pathname: text(interpreter_pathname),
        prev_comm: prev_comm.and_then(Value::as_text).map(str::to_owned),
        dev: small(dev),
        inode: unsigned(inode),
        ctime: unsigned(ctime),
        inode_mode: small(inode_mode),
        stdin_type: small(stdin_type),
        stdin_path: text(stdin_path),
        invoked_from_kernel: boolean(invoked_from_kernel),
        pwd: text(pwd),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Context, Event};

    #[test]
    fn a_replayed_exec_lacking_typed_arguments_lists_them_as_none_for_0_1() {
        let mut event = Event::new(Context::default(), Kind::SchedProcessExec);
        event.set("pathname", Value::Text("/bin/sh".into()));
        event.set("prev_comm", Value::Signed(5));
        event.set("interp", Value::Text("/bin/sh".into()));
        let v1::sigbox::signature::types::Payload::Exec(exec) = event_to_v1(&event).payload else {
            panic!("an exec payload");
        };
        assert_eq!(exec.pathname, "/bin/sh");
        assert_eq!(exec.prev_comm, None);
        let extra: Vec<&str> = exec.extra.iter().map(|f| f.name.as_str()).collect();
        assert!(
            extra.contains(&"cmdpath") && extra.contains(&"prev_comm"),
            "{extra:?}"
        );
        assert!(extra.contains(&"interp"), "{extra:?}");
        assert!(!extra.contains(&"pathname"), "{extra:?}");
        assert_eq!(TYPED_EXEC[PREV_COMM], "prev_comm");
    }
}
