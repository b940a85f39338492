//! Event fields by name: what a selector's filters test, what its `fields`
//! list projects into the sandbox, and what `read-field` returns.
//!
//! One resolver serves all three, so a name means the same thing in a filter
//! and in a projection, for live and replayed events alike. A name is
//! resolved once against the event name it is declared for: a context field,
//! a slot of that kind's table, or (for names the table lacks) an argument
//! looked up by name in the event.

use super::ancestry_field::AncestryField;
use super::{ArgType, Event, Kind, Value, ValueRef};

/// The context fields every event has, by their contract names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextField {
    /// `event-name`.
    EventName,
    /// `process-name`.
    ProcessName,
    /// `executable-path`.
    ExecutablePath,
    /// `host-name`.
    HostName,
    /// `container-id`.
    ContainerId,
    /// `container.name`: from the runtime's API (empty until resolved).
    ContainerName,
    /// `container.image`.
    ContainerImage,
    /// `container.image-digest`.
    ContainerImageDigest,
    /// `kubernetes.pod-name`: from kubelet's labels (empty outside a pod).
    PodName,
    /// `kubernetes.pod-namespace`.
    PodNamespace,
    /// `kubernetes.pod-uid`.
    PodUid,
    /// `kubernetes.pod-sandbox`: a boolean; filters read `true`/`false`.
    PodSandbox,
}

impl ContextField {
    const ALL: [(Self, &'static str); 12] = [
        (Self::EventName, "event-name"),
        (Self::ProcessName, "process-name"),
        (Self::ExecutablePath, "executable-path"),
        (Self::HostName, "host-name"),
        (Self::ContainerId, "container-id"),
        (Self::ContainerName, "container.name"),
        (Self::ContainerImage, "container.image"),
        (Self::ContainerImageDigest, "container.image-digest"),
        (Self::PodName, "kubernetes.pod-name"),
        (Self::PodNamespace, "kubernetes.pod-namespace"),
        (Self::PodUid, "kubernetes.pod-uid"),
        (Self::PodSandbox, "kubernetes.pod-sandbox"),
    ];

    fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("", |(_, n)| n)
    }

    fn text(self, event: &Event) -> &str {
        let context = &event.context;
        let pod = context.container.as_ref().map(|c| &c.pod);
        match self {
            Self::EventName => event.name(),
            Self::ProcessName => &context.process_name,
            Self::ExecutablePath => &context.executable_path,
            Self::HostName => &context.host_name,
            Self::ContainerId => &context.container_id,
            Self::ContainerName => context.container.as_ref().map_or("", |c| &c.name),
            Self::ContainerImage => context.container.as_ref().map_or("", |c| &c.image),
            Self::ContainerImageDigest => {
                context.container.as_ref().map_or("", |c| &c.image_digest)
            }
            Self::PodName => pod.map_or("", |p| &p.name),
            Self::PodNamespace => pod.map_or("", |p| &p.namespace),
            Self::PodUid => pod.map_or("", |p| &p.uid),
            Self::PodSandbox => {
                if pod.is_some_and(|p| p.sandbox) {
                    "true"
                } else {
                    "false"
                }
            }
        }
    }

    /// The field's value as it crosses into the sandbox: text, but for the
    /// one boolean.
    fn value_ref(self, event: &Event) -> ValueRef<'_> {
        match self {
            Self::PodSandbox => ValueRef::Boolean(self.text(event) == "true"),
            _ => ValueRef::Text(self.text(event)),
        }
    }
}

/// A field, resolved from its name once at load.
#[derive(Debug, Clone)]
pub enum EventField {
    /// A context field.
    Context(ContextField),
    /// An ancestor's field, or the list of ancestor names (live events).
    Ancestry {
        /// Which.
        field: AncestryField,
        /// Its name as declared.
        name: String,
    },
    /// An argument of a known kind, by its slot.
    Slot {
        /// The kind the selector is for.
        kind: Kind,
        /// The argument's slot in that kind's table.
        slot: usize,
    },
    /// Any other argument, by its name in the event.
    Named(String),
}

impl PartialEq for EventField {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for EventField {}

impl EventField {
    /// Resolves `field` for events named `event_name` (see
    /// `event-selector.fields` in the WIT). The 0.1 filter spellings
    /// `prev-comm` and `interpreter-pathname` resolve to Tracee's
    /// `prev_comm` and `interpreter_pathname`.
    pub fn resolve(event_name: &str, field: &str) -> Self {
        if let Some(context) = ContextField::named(field) {
            return Self::Context(context);
        }
        if let Some(ancestry) = AncestryField::named(field) {
            return Self::Ancestry {
                field: ancestry,
                name: field.to_owned(),
            };
        }
        let name = match field {
            "prev-comm" => "prev_comm",
            "interpreter-pathname" => "interpreter_pathname",
            other => other,
        };
        Kind::named(event_name)
            .and_then(|kind| Some((kind, kind.def().slot(name)?)))
            .map_or_else(
                || Self::Named(name.to_owned()),
                |(kind, slot)| Self::Slot { kind, slot },
            )
    }

    /// The field's name: the context's contract name or Tracee's argument
    /// name.
    pub fn name(&self) -> &str {
        match self {
            Self::Context(context) => context.name(),
            Self::Ancestry { name, .. } => name,
            Self::Slot { kind, slot } => kind.def().arg(*slot).name,
            Self::Named(name) => name,
        }
    }

    /// Whether the field names nothing an event of a kind the table knows
    /// carries (a misspelt argument: it always reads `none`).
    pub fn is_unknown(event_name: &str, field: &str) -> bool {
        Kind::named(event_name).is_some()
            && matches!(Self::resolve(event_name, field), Self::Named(_))
    }

    /// The field's value in `event` when it is a string (what text filters
    /// test).
    pub fn text<'e>(&self, event: &'e Event) -> Option<&'e str> {
        match self {
            Self::Context(context) => Some(context.text(event)),
            Self::Ancestry { field, .. } => field.text(event),
            _ => self.argument(event)?.as_text(),
        }
    }

    /// The texts of a list field in `event` (`ancestors.process-name`): a
    /// text filter passes when any of them does. `None` for other fields.
    pub fn texts<'e>(&self, event: &'e Event) -> Option<impl Iterator<Item = &'e str>> {
        match self {
            Self::Ancestry { field, .. } => field.texts(event),
            _ => None,
        }
    }

    /// Whether the field is one of the ancestry fields, which an event
    /// without that ancestor does not pass (see `Condition::passes`).
    pub fn is_ancestry(&self) -> bool {
        matches!(self, Self::Ancestry { .. })
    }

    /// The field's value in `event` when it is a 32-bit integer, signed or
    /// unsigned, as its bits (open flags, Tracee's `int32`, as an
    /// access-mode filter tests them).
    pub fn bits32(&self, event: &Event) -> Option<u32> {
        match self.argument(event)? {
            Value::Signed(n) => i32::try_from(*n).ok().map(|n| n as u32),
            Value::Unsigned(n) => u32::try_from(*n).ok(),
            _ => None,
        }
    }

    /// The argument this field names, when `event` has it.
    fn argument<'e>(&self, event: &'e Event) -> Option<&'e Value> {
        match self {
            Self::Context(_) | Self::Ancestry { .. } => None,
            Self::Slot { kind, slot } if event.kind() == Some(*kind) => Some(&event.args[*slot]),
            _ => event.arg(self.name()),
        }
    }

    /// The field's value in `event`: `none` when the event lacks it, `false`
    /// for one of sigbox's flags the source did not set.
    /// It is [`Self::value_ref`] owned, so what `read-field` returns and
    /// what a batch lowers cannot differ.
    pub fn value(&self, event: &Event) -> Value {
        match (self, self.value_ref(event)) {
            (_, Some(value)) => value.into(),
            // The one field not held as a value: the ancestors' names.
            (Self::Ancestry { field, .. }, None) => field.value(event),
            (_, None) => Value::None,
        }
    }

    /// Whether [`Self::value_ref`] can borrow the field's value.
    pub fn borrows(&self) -> bool {
        !matches!(self, Self::Ancestry { field, .. } if field.is_list())
    }

    /// [`Self::value`] borrowed from `event`, without copying its strings;
    /// `None` for the one field the event holds in another shape (the
    /// ancestors' names, a list built by [`Self::value`]).
    pub fn value_ref<'e>(&self, event: &'e Event) -> Option<ValueRef<'e>> {
        Some(match self {
            Self::Context(context) => context.value_ref(event),
            Self::Ancestry { .. } if !self.borrows() => return None,
            Self::Ancestry { field, .. } => {
                field.text(event).map_or(ValueRef::None, ValueRef::Text)
            }
            Self::Slot { kind, slot } if event.kind() == Some(*kind) => {
                match (&event.args[*slot], kind.def().arg(*slot).ty) {
                    (Value::None, ArgType::Flag) => ValueRef::Boolean(false),
                    (value, _) => ValueRef::from(value),
                }
            }
            _ => event
                .arg(self.name())
                .map_or(ValueRef::None, ValueRef::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Context;

    fn exec() -> Event {
        let mut event = Event::new(
            Context {
                process_name: "bash".into(),
                ..Context::default()
            },
            Kind::SchedProcessExec,
        );
        event.set("prev_comm", Value::Text("nginx".into()));
        event.set("inode", Value::Unsigned(77));
        event.set("weird", Value::Signed(5));
        event
    }

    #[test]
    fn names_resolve_to_slots_context_or_by_name() {
        let exec_field = |name| EventField::resolve("sched_process_exec", name);
        let event = exec();
        for name in ["prev_comm", "prev-comm"] {
            assert!(matches!(exec_field(name), EventField::Slot { .. }));
            assert_eq!(exec_field(name).text(&event), Some("nginx"));
        }
        assert_eq!(exec_field("inode").value(&event), Value::Unsigned(77));
        assert_eq!(exec_field("inode").text(&event), None, "not a string");
        assert_eq!(exec_field("process-name").text(&event), Some("bash"));
        assert_eq!(
            exec_field("event-name").text(&event),
            Some("sched_process_exec")
        );
        assert_eq!(exec_field("weird").value(&event), Value::Signed(5));
        assert_eq!(exec_field("pathname").value(&event), Value::None);
        assert_eq!(exec_field("absent").value(&event), Value::None);
        assert!(EventField::is_unknown("sched_process_exec", "absent"));
        assert!(!EventField::is_unknown("sched_process_exec", "prev-comm"));
        assert!(
            !EventField::is_unknown("openat", "absent"),
            "unknown kinds are not checked"
        );
        assert_eq!(
            exec_field("argv_truncated").value(&event),
            Value::Boolean(false),
            "a flag not set reads false"
        );
    }

    #[test]
    fn container_fields_read_the_runtimes_answer_or_empty() {
        let field = |name| EventField::resolve("sched_process_exec", name);
        let mut event = exec();
        assert_eq!(field("container.name").text(&event), Some(""));
        event.context.container = Some(std::sync::Arc::new(crate::event::ContainerInfo {
            name: "web".into(),
            image: "docker.io/library/nginx:1.27".into(),
            image_digest: "docker.io/library/nginx@sha256:ab".into(),
            ..crate::event::ContainerInfo::default()
        }));
        assert_eq!(field("container.name").text(&event), Some("web"));
        assert_eq!(
            field("container.image").value(&event),
            Value::Text("docker.io/library/nginx:1.27".into())
        );
        assert_eq!(
            field("container.image-digest").text(&event),
            Some("docker.io/library/nginx@sha256:ab")
        );
        assert!(!EventField::is_unknown(
            "sched_process_exec",
            "container.image"
        ));
    }

    #[test]
    fn pod_fields_read_kubelets_labels_or_empty() {
        let field = |name| EventField::resolve("sched_process_exec", name);
        let mut event = exec();
        assert_eq!(field("kubernetes.pod-name").text(&event), Some(""));
        assert_eq!(field("kubernetes.pod-sandbox").text(&event), Some("false"));
        event.context.container = Some(std::sync::Arc::new(crate::event::ContainerInfo {
            pod: crate::event::PodInfo {
                name: "web-7d9f".into(),
                namespace: "shop".into(),
                uid: "1c2d".into(),
                sandbox: true,
            },
            ..crate::event::ContainerInfo::default()
        }));
        assert_eq!(field("kubernetes.pod-name").text(&event), Some("web-7d9f"));
        assert_eq!(
            field("kubernetes.pod-namespace").value(&event),
            Value::Text("shop".into())
        );
        assert_eq!(field("kubernetes.pod-uid").text(&event), Some("1c2d"));
        assert_eq!(field("kubernetes.pod-sandbox").text(&event), Some("true"));
        assert_eq!(
            field("kubernetes.pod-sandbox").value(&event),
            Value::Boolean(true)
        );
        // A batch lowers the same boolean (it once crossed as text there).
        assert_eq!(
            field("kubernetes.pod-sandbox").value_ref(&event),
            Some(ValueRef::Boolean(true))
        );
    }

    #[test]
    fn other_event_names_are_read_by_argument_name() {
        let mut event = Event::named(Context::default(), "openat");
        event.set("pathname", Value::Text("/etc/shadow".into()));
        let field = EventField::resolve("openat", "pathname");
        assert!(matches!(field, EventField::Named(_)));
        assert_eq!(field.text(&event), Some("/etc/shadow"));
        assert_eq!(
            EventField::resolve("openat", "prev_comm").value(&event),
            Value::None
        );
    }
}
