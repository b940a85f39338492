//! The host's own event model: a plain context (what Tracee's event context
//! holds), the event's kind, and its arguments in slots laid out by Tracee's
//! definition of that kind ([`table`]). Sources fill it, filters and
//! projections read it through [`fields`], sinks write it; the contract
//! versions convert it in `engine/wasm/contract.rs` and nowhere else.

pub mod ancestry;
pub(crate) mod ancestry_field;
mod container;
mod entity_id;
pub(crate) mod fields;
pub(crate) mod open_flags;
pub(crate) mod table;
mod value;

use std::sync::Arc;

use smallvec::SmallVec;

pub use ancestry::{Ancestor, Ancestry, MAX_ANCESTORS};
pub use container::{ContainerInfo, PodInfo, labels as kubernetes_labels};
pub use entity_id::entity_id;
pub use table::Kind;
pub use value::{Field, Origin, Value, ValueRef};

pub(crate) use table::ArgType;
pub(crate) use value::untyped_tracee_type;

/// What Tracee's event context holds: who did it, where and when. Ids are
/// the ones in the process's own pid namespace, as Tracee reports them; the
/// host's are beside them.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// When it happened, ns since the epoch.
    pub timestamp_ns: u64,
    /// When the thread started, ns since the epoch (Tracee's
    /// `threadStartTime`); 0 when the source did not say.
    pub thread_start_ns: u64,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Process id on the host.
    pub host_pid: u32,
    /// Thread id on the host.
    pub host_tid: u32,
    /// Parent process id on the host.
    pub host_ppid: u32,
    /// User id.
    pub uid: u32,
    /// Mount namespace.
    pub mount_ns: u32,
    /// Pid namespace.
    pub pid_ns: u32,
    /// Cgroup (v2) id.
    pub cgroup_id: u64,
    /// The thread's `comm`.
    pub process_name: String,
    /// The executable's path.
    pub executable_path: String,
    /// The machine's host name (shared by every event of a source).
    pub host_name: Arc<str>,
    /// The container id; empty on the host.
    pub container_id: String,
    /// Host, container or starting container.
    pub origin: Origin,
    /// The syscall's return value (0 for events that are not syscalls).
    pub return_value: i64,
    /// Tracee's `processEntityId`: 0 until the source knows it.
    pub process_entity_id: u32,
    /// Tracee's `parentEntityId`: 0 until the source knows it.
    pub parent_entity_id: u32,
    /// The process's ancestors, nearest first (live events only).
    pub ancestors: Ancestry,
    /// The container's name and image from its runtime's API (live) or the
    /// Tracee line (replay); `None` while not known.
    pub container: Option<Arc<ContainerInfo>>,
}

impl Default for Context {
    fn default() -> Self {
        Self {
            timestamp_ns: 0,
            thread_start_ns: 0,
            pid: 0,
            tid: 0,
            ppid: 0,
            host_pid: 0,
            host_tid: 0,
            host_ppid: 0,
            uid: 0,
            mount_ns: 0,
            pid_ns: 0,
            cgroup_id: 0,
            process_name: String::new(),
            executable_path: String::new(),
            host_name: Arc::from(""),
            container_id: String::new(),
            origin: Origin::Host,
            return_value: 0,
            process_entity_id: 0,
            parent_entity_id: 0,
            ancestors: Arc::new([]),
            container: None,
        }
    }
}

/// Which event it is: a kind sigbox knows, or another name a replayed
/// capture carried (its arguments then all sit in [`Event::extra`]).
#[derive(Debug, Clone, PartialEq)]
pub enum EventName {
    /// A kind in the table.
    Known(Kind),
    /// Any other event name.
    Other(String),
}

/// Argument slots an event holds without a heap allocation: the most any
/// kind in the table has (`sched_process_exec`: 18 of Tracee's and 3 own).
pub const INLINE_SLOTS: usize = 21;

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its context.
    pub context: Context,
    /// Its kind or name.
    pub name: EventName,
    /// A known kind's arguments, one slot per table entry
    /// ([`EventDef::slots`]); [`Value::None`] where the event lacks one.
    /// Empty for other names. Held inline (no kind has more than
    /// [`INLINE_SLOTS`]), so reading an argument follows no extra pointer.
    pub args: SmallVec<[Value; INLINE_SLOTS]>,
    /// Arguments the table has no slot for, in the order given.
    pub extra: Vec<Field>,
}

impl Event {
    /// An event of a known kind with every argument missing.
    pub(crate) fn new(context: Context, kind: Kind) -> Self {
        Self {
            context,
            name: EventName::Known(kind),
            args: SmallVec::from_elem(Value::None, kind.def().slots()),
            extra: Vec::new(),
        }
    }

    /// An event named `name`: of its kind when the table knows the name,
    /// else with no slots.
    pub fn named(context: Context, name: &str) -> Self {
        match Kind::named(name) {
            Some(kind) => Self::new(context, kind),
            None => Self {
                context,
                name: EventName::Other(name.to_owned()),
                args: SmallVec::new(),
                extra: Vec::new(),
            },
        }
    }

    /// Tracee's event name.
    pub fn name(&self) -> &str {
        match &self.name {
            EventName::Known(kind) => kind.name(),
            EventName::Other(name) => name,
        }
    }

    /// Its kind, when the table knows it.
    pub fn kind(&self) -> Option<Kind> {
        match self.name {
            EventName::Known(kind) => Some(kind),
            EventName::Other(_) => None,
        }
    }

    /// Tracee's id of the event; 0 for a name sigbox has no definition of.
    pub(crate) fn id(&self) -> i64 {
        self.kind().map_or(0, |kind| kind.def().id)
    }

    /// Sets the argument named `name`: its slot when the kind has one,
    /// else (or for another name) an extra argument.
    pub fn set(&mut self, name: &str, value: Value) {
        match self.kind().and_then(|kind| kind.def().slot(name)) {
            Some(slot) => self.args[slot] = value,
            None => self.extra.push(Field::new(name, value)),
        }
    }

    /// The argument named `name`; `None` when the event lacks it.
    pub(crate) fn arg(&self, name: &str) -> Option<&Value> {
        let value = match self.kind().and_then(|kind| kind.def().slot(name)) {
            Some(slot) => &self.args[slot],
            None => &self.extra.iter().find(|f| f.name == name)?.value,
        };
        (!value.is_none()).then_some(value)
    }

    /// The arguments as Tracee lists them: the table's in order with
    /// Tracee's types, those it lacks left out; sigbox's own flags when set;
    /// then the extra ones, typed by their values.
    pub(crate) fn tracee_args(&self) -> impl Iterator<Item = (&str, &'static str, &Value)> {
        let def = self.kind().map(Kind::def);
        let slotted = self
            .args
            .iter()
            .enumerate()
            .filter_map(move |(slot, value)| {
                let arg = def?.arg(slot);
                let shown = !matches!(
                    (arg.ty, value),
                    (_, Value::None) | (ArgType::Flag, Value::Boolean(false))
                );
                shown.then_some((arg.name, arg.tracee_type, value))
            });
        let extra = self
            .extra
            .iter()
            .map(|f| (f.name.as_str(), untyped_tracee_type(&f.value), &f.value));
        slotted.chain(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_go_to_their_slot_or_extra() {
        let mut event = Event::named(Context::default(), "security_file_open");
        event.set("flags", Value::Signed(65));
        event.set("weird", Value::Text("w".into()));
        assert_eq!(event.kind(), Some(Kind::SecurityFileOpen));
        assert_eq!(event.id(), 732);
        assert_eq!(event.arg("flags"), Some(&Value::Signed(65)));
        assert_eq!(event.arg("pathname"), None, "a slot never set is missing");
        assert_eq!(event.arg("weird"), Some(&Value::Text("w".into())));
        let listed: Vec<(&str, &str)> = event.tracee_args().map(|(n, t, _)| (n, t)).collect();
        assert_eq!(listed, [("flags", "int32"), ("weird", "const char *")]);
    }

    #[test]
    fn other_names_keep_every_argument_by_name() {
        let mut event = Event::named(Context::default(), "openat");
        event.set("pathname", Value::Text("/etc/shadow".into()));
        assert_eq!(event.name(), "openat");
        assert_eq!(event.id(), 0);
        assert_eq!(
            event.arg("pathname").and_then(Value::as_text),
            Some("/etc/shadow")
        );
    }

    #[test]
    fn own_flags_are_listed_only_when_set() {
        let mut event = Event::new(Context::default(), Kind::SchedProcessExec);
        event.set("argv_truncated", Value::Boolean(false));
        assert_eq!(event.tracee_args().count(), 0);
        event.set("argv_truncated", Value::Boolean(true));
        let listed: Vec<&str> = event.tracee_args().map(|(n, _, _)| n).collect();
        assert_eq!(listed, ["argv_truncated"]);
    }
}
