//! A Tracee line's known fields read off its [`Tape`], with the types
//! `tracee_json`'s serde structs give them: one scan of the line serves the
//! check of an unselected line and the parse of a selected one.
//!
//! Sure or silent, as the tape: [`read`] gives fields only when serde_json
//! would accept the line into `tracee_json::TraceeEvent` with the same
//! values; anything else (a wrong type, a known field twice, an escaped key
//! where a struct reads keys, `-0`, an integer out of its field's range)
//! gives `None`, and the caller asks serde_json, which accepts or words the
//! refusal exactly as before.

use std::borrow::Cow;
use std::cell::RefCell;

use serde_json::Value as Json;

use super::json_tape::{Kind, Tape};

/// The context fields a Tracee line may give, as read (absent: default).
#[derive(Default)]
pub(crate) struct Fields {
    pub timestamp: u64,
    pub thread_start_time: u64,
    pub process_entity_id: u32,
    pub parent_entity_id: u32,
    pub process_id: u32,
    pub thread_id: u32,
    pub parent_process_id: u32,
    pub host_process_id: u32,
    pub host_thread_id: u32,
    pub host_parent_process_id: u32,
    pub user_id: u32,
    pub mount_namespace: u32,
    pub pid_namespace: u32,
    pub cgroup_id: u64,
    pub return_value: i64,
    /// Tape indices of string values.
    pub process_name: Option<usize>,
    pub host_name: Option<usize>,
    pub container_id: Option<usize>,
    /// `executable.path`, when `executable` is an object.
    pub executable: Option<Option<usize>>,
    /// `container`'s id, name, image and imageDigest, when an object.
    pub container: Option<[Option<usize>; 4]>,
    /// `kubernetes`' podName, podNamespace, podUID and podSandbox.
    pub kubernetes: Option<([Option<usize>; 3], bool)>,
    /// `eventName` when a string (absent or null: `None`).
    pub event_name: Option<usize>,
    /// `contextFlags`, when an object: its `containerStarted`.
    pub context_flags: Option<Option<bool>>,
    /// The `args` array, when one; each element checked by [`read`].
    pub args: Option<usize>,
}

thread_local! {
    /// Each thread's tape, reused line after line.
    static TAPE: RefCell<Tape> = RefCell::default();
}

/// Scans `line` and hands its fields to `then`; `None` when not sure.
pub(crate) fn with_fields<'a, R>(
    line: &'a str,
    then: impl FnOnce(&Line<'_, 'a>, Fields) -> Option<R>,
) -> Option<R> {
    TAPE.with(|tape| {
        let mut tape = tape.try_borrow_mut().ok()?;
        if !tape.scan(line) {
            return None;
        }
        let line = Line {
            text: line,
            tape: &tape,
        };
        let fields = read(&line)?;
        then(&line, fields)
    })
}

/// A scanned line: its text and its tape.
pub(crate) struct Line<'t, 'a> {
    text: &'a str,
    tape: &'t Tape,
}

impl<'a> Line<'_, 'a> {
    /// The JSON text of the value at `index`.
    fn raw(&self, index: usize) -> &'a str {
        let node = self.tape.node(index);
        &self.text[node.start as usize..node.end as usize]
    }

    /// The unescaped key or string at `index`, borrowed; `None` when it
    /// has escapes or is no string.
    fn plain(&self, index: usize) -> Option<&'a str> {
        let node = self.tape.node(index);
        (node.kind == Kind::String)
            .then(|| &self.text[node.start as usize + 1..node.end as usize - 1])
    }

    /// The string at `index`, decoded (escapes through serde_json).
    pub(crate) fn text(&self, index: usize) -> Option<Cow<'a, str>> {
        match self.tape.node(index).kind {
            Kind::String => self.plain(index).map(Cow::Borrowed),
            Kind::EscapedString => serde_json::from_str(self.raw(index)).ok().map(Cow::Owned),
            _ => None,
        }
    }

    /// The value at `index` as `serde_json::Value` reads it. Scalars and
    /// lists of plain strings are built here; other containers and
    /// numbers outside a plain `u64`/`i64` are read by serde_json from
    /// their own text (the tape's depth limit keeps them far from its
    /// nesting limit), so the value is serde_json's own.
    pub(crate) fn json(&self, index: usize) -> Option<Json> {
        let node = self.tape.node(index);
        Some(match node.kind {
            Kind::Null => Json::Null,
            Kind::True => Json::Bool(true),
            Kind::False => Json::Bool(false),
            Kind::String => Json::String(self.plain(index)?.to_owned()),
            Kind::Integer => match integer(self.raw(index)) {
                Some(Integer::Unsigned(n)) => Json::from(n),
                Some(Integer::Negative(n)) => Json::from(n),
                None => serde_json::from_str(self.raw(index)).ok()?,
            },
            Kind::Array => {
                let mut items = Vec::new();
                for item in self.tape.children(index) {
                    match self.plain(item) {
                        Some(text) => items.push(Json::String(text.to_owned())),
                        None => return serde_json::from_str(self.raw(index)).ok(),
                    }
                }
                Json::Array(items)
            }
            Kind::EscapedString | Kind::Decimal | Kind::Object => {
                serde_json::from_str(self.raw(index)).ok()?
            }
        })
    }

    /// The `args` array's elements: each one's name and value (if given).
    pub(crate) fn args(&self, args: usize) -> impl Iterator<Item = (usize, Option<usize>)> + '_ {
        self.tape.children(args).map(|arg| {
            let (mut name, mut value) = (0, None);
            for (key, member) in self.tape.members(arg) {
                match self.plain(key) {
                    Some("name") => name = member,
                    Some("value") => value = Some(member),
                    _ => {}
                }
            }
            (name, value)
        })
    }
}

/// An integer literal that serde_json reads as a `u64` or a negative `i64`.
enum Integer {
    Unsigned(u64),
    Negative(i64),
}

/// `text` (an integer by the tape) as serde_json types it; `None` for
/// `-0` (a float to serde_json) and for what overflows (a float too).
fn integer(text: &str) -> Option<Integer> {
    match text.strip_prefix('-') {
        Some(magnitude) => {
            let magnitude = i64::try_from(digits(magnitude)?).ok()?;
            (magnitude != 0).then(|| Integer::Negative(-magnitude))
        }
        None => digits(text).map(Integer::Unsigned),
    }
}

/// The value of a run of ASCII digits (the tape checked they are), `None`
/// past `u64`. `str::parse` costs more, checking what the tape did.
fn digits(text: &str) -> Option<u64> {
    text.bytes().try_fold(0u64, |n, digit| {
        n.checked_mul(10)?
            .checked_add(u64::from(digit.wrapping_sub(b'0')))
    })
}

/// Reads the known fields of the scanned line, checking each one's type as
/// `TraceeEvent` does; `None` when serde_json might not accept them alike.
fn read(line: &Line<'_, '_>) -> Option<Fields> {
    let tape = line.tape;
    if tape.node(0).kind != Kind::Object {
        return None;
    }
    let mut fields = Fields::default();
    // serde's derived structs refuse a known field given twice.
    let mut seen = 0u32;
    for (key, value) in tape.members(0) {
        let key = line.plain(key)?;
        let (bit, ok) = match key {
            "timestamp" => (0, unsigned(line, value, &mut fields.timestamp)),
            "threadStartTime" => (1, unsigned(line, value, &mut fields.thread_start_time)),
            "processEntityId" => (2, unsigned(line, value, &mut fields.process_entity_id)),
            "parentEntityId" => (3, unsigned(line, value, &mut fields.parent_entity_id)),
            "processId" => (4, unsigned(line, value, &mut fields.process_id)),
            "threadId" => (5, unsigned(line, value, &mut fields.thread_id)),
            "parentProcessId" => (6, unsigned(line, value, &mut fields.parent_process_id)),
            "hostProcessId" => (7, unsigned(line, value, &mut fields.host_process_id)),
            "hostThreadId" => (8, unsigned(line, value, &mut fields.host_thread_id)),
            "hostParentProcessId" => (9, unsigned(line, value, &mut fields.host_parent_process_id)),
            "userId" => (10, unsigned(line, value, &mut fields.user_id)),
            "mountNamespace" => (11, unsigned(line, value, &mut fields.mount_namespace)),
            "pidNamespace" => (12, unsigned(line, value, &mut fields.pid_namespace)),
            "cgroupId" => (13, unsigned(line, value, &mut fields.cgroup_id)),
            "returnValue" => (14, signed(line, value, &mut fields.return_value)),
            "processName" => (15, string(line, value, &mut fields.process_name)),
            "hostName" => (16, string(line, value, &mut fields.host_name)),
            "containerId" => (17, string(line, value, &mut fields.container_id)),
            "executable" => (18, executable(line, value, &mut fields.executable)),
            "container" => (19, container(line, value, &mut fields.container)),
            "kubernetes" => (20, kubernetes(line, value, &mut fields.kubernetes)),
            "eventName" => (21, event_name(line, value, &mut fields.event_name)),
            "contextFlags" => (22, context_flags(line, value, &mut fields.context_flags)),
            "args" => (23, args(line, value, &mut fields.args)),
            _ => continue,
        };
        if !ok || seen & (1 << bit) != 0 {
            return None;
        }
        seen |= 1 << bit;
    }
    Some(fields)
}

fn unsigned<T: TryFrom<u64>>(line: &Line<'_, '_>, value: usize, into: &mut T) -> bool {
    let typed = match line.tape.node(value).kind {
        Kind::Integer => match integer(line.raw(value)) {
            Some(Integer::Unsigned(n)) => T::try_from(n).ok(),
            _ => None,
        },
        _ => None,
    };
    typed.map(|n| *into = n).is_some()
}

fn signed(line: &Line<'_, '_>, value: usize, into: &mut i64) -> bool {
    let typed = match line.tape.node(value).kind {
        Kind::Integer => match integer(line.raw(value)) {
            Some(Integer::Unsigned(n)) => i64::try_from(n).ok(),
            Some(Integer::Negative(n)) => Some(n),
            None => None,
        },
        _ => None,
    };
    typed.map(|n| *into = n).is_some()
}

/// A `String` field: a string (not `null`).
fn string(line: &Line<'_, '_>, value: usize, into: &mut Option<usize>) -> bool {
    let is_string = matches!(
        line.tape.node(value).kind,
        Kind::String | Kind::EscapedString
    );
    *into = Some(value);
    is_string
}

/// An `Option<String>` field: `null` or a string.
fn event_name(line: &Line<'_, '_>, value: usize, into: &mut Option<usize>) -> bool {
    line.tape.node(value).kind == Kind::Null || string(line, value, into)
}

/// The members of an `Option<struct>` field: `Some(None)` for `null`,
/// `None` when neither an object nor `null`, or when a key is escaped
/// (serde would match it decoded) or a known key repeats.
fn struct_members<const N: usize>(
    line: &Line<'_, '_>,
    value: usize,
    keys: [&str; N],
) -> Option<Option<[Option<usize>; N]>> {
    match line.tape.node(value).kind {
        Kind::Null => return Some(None),
        Kind::Object => {}
        _ => return None,
    }
    let mut found = [None; N];
    for (key, member) in line.tape.members(value) {
        let key = line.plain(key)?;
        if let Some(at) = keys.iter().position(|known| *known == key)
            && found[at].replace(member).is_some()
        {
            return None;
        }
    }
    Some(Some(found))
}

fn is_string(line: &Line<'_, '_>, value: Option<usize>) -> bool {
    value.is_none_or(|value| {
        matches!(
            line.tape.node(value).kind,
            Kind::String | Kind::EscapedString
        )
    })
}

fn executable(line: &Line<'_, '_>, value: usize, into: &mut Option<Option<usize>>) -> bool {
    match struct_members(line, value, ["path"]) {
        Some(Some([path])) if is_string(line, path) => *into = Some(path),
        Some(None) => *into = None,
        _ => return false,
    }
    true
}

fn container(line: &Line<'_, '_>, value: usize, into: &mut Option<[Option<usize>; 4]>) -> bool {
    match struct_members(line, value, ["id", "name", "image", "imageDigest"]) {
        Some(Some(found)) if found.iter().all(|v| is_string(line, *v)) => *into = Some(found),
        Some(None) => *into = None,
        _ => return false,
    }
    true
}

fn kubernetes(
    line: &Line<'_, '_>,
    value: usize,
    into: &mut Option<([Option<usize>; 3], bool)>,
) -> bool {
    let keys = ["podName", "podNamespace", "podUID", "podSandbox"];
    match struct_members(line, value, keys) {
        Some(Some([name, namespace, uid, sandbox])) => {
            let sandbox = match sandbox.map(|v| line.tape.node(v).kind) {
                None | Some(Kind::False) => false,
                Some(Kind::True) => true,
                Some(_) => return false,
            };
            if ![name, namespace, uid].iter().all(|v| is_string(line, *v)) {
                return false;
            }
            *into = Some(([name, namespace, uid], sandbox));
        }
        Some(None) => *into = None,
        None => return false,
    }
    true
}

fn context_flags(line: &Line<'_, '_>, value: usize, into: &mut Option<Option<bool>>) -> bool {
    match struct_members(line, value, ["containerStarted"]) {
        Some(Some([started])) => {
            let started = match started.map(|v| line.tape.node(v).kind) {
                None | Some(Kind::Null) => None,
                Some(Kind::True) => Some(true),
                Some(Kind::False) => Some(false),
                Some(_) => return false,
            };
            *into = Some(started);
        }
        Some(None) => *into = None,
        None => return false,
    }
    true
}

/// `Option<Vec<Argument>>`: `null`, or an array of objects each with a
/// string `name` (required) and any `value` (`serde_json::Value`: the
/// tape's own limits keep it within serde_json's).
fn args(line: &Line<'_, '_>, value: usize, into: &mut Option<usize>) -> bool {
    match line.tape.node(value).kind {
        Kind::Null => return true,
        Kind::Array => {}
        _ => return false,
    }
    for arg in line.tape.children(value) {
        match struct_members(line, arg, ["name", "value"]) {
            Some(Some([Some(name), _])) if is_string(line, Some(name)) => {}
            _ => return false,
        }
    }
    *into = Some(value);
    true
}

#[cfg(test)]
mod tests;
