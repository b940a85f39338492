//! The values events and findings carry, in the host's own types: what a
//! source fills in, a filter tests and a sink writes. The contract versions
//! convert to and from them in `engine/wasm/contract.rs`.

/// A dynamically typed value: an event argument, a metadata property or a
/// key of a finding's data. Same cases as the contract's `value` variant.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (JSON `null`); also an argument the event lacks.
    None,
    /// A boolean.
    Boolean(bool),
    /// A signed integer.
    Signed(i64),
    /// An unsigned integer.
    Unsigned(u64),
    /// A floating-point number.
    Float(f64),
    /// A string (byte strings are decoded lossily as UTF-8).
    Text(String),
    /// A list of strings (`argv`, `env`).
    TextList(Vec<String>),
    /// Anything else (objects, mixed lists), as its JSON text.
    Json(String),
}

impl Value {
    /// The value when it is a string.
    pub(crate) fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Whether the value is absent (`none`).
    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }
}

/// A [`Value`] borrowed from where an event holds it: what a projection
/// lowers into the sandbox without copying it first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// No value.
    None,
    /// A boolean.
    Boolean(bool),
    /// A signed integer.
    Signed(i64),
    /// An unsigned integer.
    Unsigned(u64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Text(&'a str),
    /// A list of strings.
    TextList(&'a [String]),
    /// JSON text.
    Json(&'a str),
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::None => Self::None,
            Value::Boolean(b) => Self::Boolean(*b),
            Value::Signed(n) => Self::Signed(*n),
            Value::Unsigned(n) => Self::Unsigned(*n),
            Value::Float(f) => Self::Float(*f),
            Value::Text(s) => Self::Text(s),
            Value::TextList(l) => Self::TextList(l),
            Value::Json(s) => Self::Json(s),
        }
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::None => Self::None,
            ValueRef::Boolean(b) => Self::Boolean(b),
            ValueRef::Signed(n) => Self::Signed(n),
            ValueRef::Unsigned(n) => Self::Unsigned(n),
            ValueRef::Float(f) => Self::Float(f),
            ValueRef::Text(s) => Self::Text(s.to_owned()),
            ValueRef::TextList(l) => Self::TextList(l.to_vec()),
            ValueRef::Json(s) => Self::Json(s.to_owned()),
        }
    }
}

/// A named value: a configuration entry, a metadata property, a key of a
/// finding's data, or an event argument sigbox has no table entry for.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The key, e.g. `prev_comm`.
    pub name: String,
    /// The value.
    pub value: Value,
}

impl Field {
    /// A field named `name`.
    pub(crate) fn new(name: impl Into<String>, value: Value) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }
}

/// Where an event happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// On the host, outside any container.
    Host,
    /// Inside a container.
    Container,
    /// Inside a container while it is starting (Tracee's `container-init`).
    ContainerInit,
}

/// The type string Tracee gives a value it has no definition for, as its
/// findings type their data (`getCType` in `pkg/events/findings`).
pub(crate) fn untyped_tracee_type(value: &Value) -> &'static str {
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
