//! Tracee v0.24.1's definitions of the events sigbox produces
//! (`pkg/events/core.go`): event id and name, and per argument its name,
//! type string and where sigbox keeps its value. Everything sigbox writes as
//! Tracee JSON takes ids and types from here; replay reads arguments by name
//! only, so older Tracee's type strings are still accepted on input.

use crate::wit::{ExecArgs, Field, Value};

/// One kind of event: Tracee's id and name, and its arguments in Tracee's
/// order.
#[derive(Debug)]
pub struct EventDef {
    /// Tracee's event id (`eventId`, written as a string in events and as a
    /// number in a finding's `detectedFrom`).
    pub id: i64,
    /// Tracee's event name.
    pub name: &'static str,
    /// The arguments, in the order Tracee's definition lists them.
    pub args: &'static [ArgDef],
}

/// One argument of an event.
#[derive(Debug)]
pub struct ArgDef {
    /// Tracee's argument name.
    pub name: &'static str,
    /// Tracee's type string (`ArgMeta.Type`).
    pub tracee_type: &'static str,
    /// Where sigbox keeps the value.
    pub read: Read,
}

/// Where an argument's value is kept in an exec payload.
#[derive(Debug)]
pub enum Read {
    /// A typed field of [`ExecArgs`]; `Value::None` when the source did not
    /// give it (only `prev_comm`, which is optional in the record).
    Typed(fn(&ExecArgs) -> Value),
    /// An entry of `ExecArgs::extra`, by the argument's name (absent when the
    /// source did not give it).
    Extra,
}

impl ArgDef {
    /// This argument's value in `exec`; `None` when the event lacks it.
    ///
    /// A typed argument that replay found missing, or of another type, is
    /// listed in `extra` under its own name (`none` when missing; see
    /// `source::tracee_json`): that entry wins over the typed field, whose
    /// empty value would otherwise pass for one the event gave.
    pub fn value(&self, exec: &ExecArgs) -> Option<Value> {
        let given = extra(&exec.extra, self.name);
        let value = match (&self.read, given) {
            (Read::Typed(_) | Read::Extra, Some(value)) => value.clone(),
            (Read::Typed(read), None) => read(exec),
            (Read::Extra, None) => return None,
        };
        (!matches!(value, Value::None)).then_some(value)
    }
}

/// The entry named `name` of an argument list.
pub fn extra<'a>(fields: &'a [Field], name: &str) -> Option<&'a Value> {
    fields.iter().find(|f| f.name == name).map(|f| &f.value)
}

/// Tracee's id of an event name; 0 for a name sigbox has no definition of.
pub fn event_id(name: &str) -> i64 {
    EVENTS.iter().find(|e| e.name == name).map_or(0, |e| e.id)
}

/// The events sigbox knows Tracee's definition of.
pub const EVENTS: &[&EventDef] = &[&SCHED_PROCESS_EXEC];

/// `sched_process_exec`. Its id: common events count up from 700
/// (`StartCommonID`) in core.go's enum, and it is the 16th (`NetPacketBase`
/// … `MaxNetID`, `SysEnter`, `SysExit`, `SchedProcessFork`,
/// `SchedProcessExec`).
pub const SCHED_PROCESS_EXEC: EventDef = EventDef {
    id: 715,
    name: "sched_process_exec",
    args: &EXEC_ARGS,
};

const fn typed(
    name: &'static str,
    tracee_type: &'static str,
    read: fn(&ExecArgs) -> Value,
) -> ArgDef {
    ArgDef {
        name,
        tracee_type,
        read: Read::Typed(read),
    }
}

const fn extra_arg(name: &'static str, tracee_type: &'static str) -> ArgDef {
    ArgDef {
        name,
        tracee_type,
        read: Read::Extra,
    }
}

/// `sched_process_exec`'s arguments, as core.go's `SchedProcessExec` lists them.
const EXEC_ARGS: [ArgDef; 18] = [
    typed("cmdpath", "string", |e| Value::Text(e.cmdpath.clone())),
    typed("pathname", "string", |e| Value::Text(e.pathname.clone())),
    typed("dev", "uint32", |e| Value::Unsigned(e.dev.into())),
    typed("inode", "uint64", |e| Value::Unsigned(e.inode)),
    typed("ctime", "uint64", |e| Value::Unsigned(e.ctime)),
    typed("inode_mode", "uint16", |e| {
        Value::Unsigned(e.inode_mode.into())
    }),
    typed("interpreter_pathname", "string", |e| {
        Value::Text(e.interpreter_pathname.clone())
    }),
    extra_arg("interpreter_dev", "uint32"),
    extra_arg("interpreter_inode", "uint64"),
    extra_arg("interpreter_ctime", "uint64"),
    typed("argv", "[]string", |e| Value::TextList(e.argv.clone())),
    extra_arg("interp", "string"),
    typed("stdin_type", "uint16", |e| {
        Value::Unsigned(e.stdin_type.into())
    }),
    typed("stdin_path", "string", |e| {
        Value::Text(e.stdin_path.clone())
    }),
    typed("invoked_from_kernel", "bool", |e| {
        Value::Boolean(e.invoked_from_kernel)
    }),
    typed("prev_comm", "string", |e| {
        e.prev_comm.clone().map_or(Value::None, Value::Text)
    }),
    extra_arg("env", "[]string"),
    typed("pwd", "string", |e| Value::Text(e.pwd.clone())),
];

/// The exec argument named `name`, if Tracee defines one.
pub fn exec_arg(name: &str) -> Option<&'static ArgDef> {
    EXEC_ARGS.iter().find(|a| a.name == name)
}

/// The type string Tracee gives a value it has no definition for, as its
/// findings type their data (`getCType` in `pkg/events/findings`).
pub fn value_type(value: &Value) -> &'static str {
    match value {
        Value::None | Value::Json(_) => "unknown",
        Value::Boolean(_) => "bool",
        Value::Signed(_) => "long",
        Value::Unsigned(_) => "unsigned long",
        Value::Float(_) => "float64",
        Value::Text(_) => "const char *",
        Value::TextList(_) => "const char**",
    }
}
