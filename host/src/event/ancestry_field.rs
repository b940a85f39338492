//! The ancestry fields a selector can filter on or project, by their
//! contract names: `parent.process-name`, `parent.executable-path`,
//! `ancestor.N.process-name`, `ancestor.N.executable-path` (N = 1 to
//! [`MAX_ANCESTORS`], `ancestor.1` is the parent) and
//! `ancestors.process-name`, every ancestor's name, nearest first.

use super::{Ancestor, Event, MAX_ANCESTORS, Value};

/// An ancestry field, resolved from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AncestryField {
    /// The `process-name` of the ancestor at this level (1 = parent).
    ProcessName(usize),
    /// The `executable-path` of the ancestor at this level.
    ExecutablePath(usize),
    /// Every ancestor's `process-name`, nearest first.
    ProcessNames,
}

impl AncestryField {
    /// The field `name` names, if it is an ancestry field.
    pub fn named(name: &str) -> Option<Self> {
        if name == "ancestors.process-name" {
            return Some(Self::ProcessNames);
        }
        let (level, leaf) = match name.strip_prefix("parent.") {
            Some(leaf) => (1, leaf),
            None => {
                let (level, leaf) = name.strip_prefix("ancestor.")?.split_once('.')?;
                (level.parse().ok()?, leaf)
            }
        };
        if !(1..=MAX_ANCESTORS).contains(&level) {
            return None;
        }
        match leaf {
            "process-name" => Some(Self::ProcessName(level)),
            "executable-path" => Some(Self::ExecutablePath(level)),
            _ => None,
        }
    }

    /// The ancestor at `level` of `event`'s process, if the event has it.
    fn ancestor(event: &Event, level: usize) -> Option<&Ancestor> {
        event.context.ancestors.get(level - 1)
    }

    /// The field's text in `event`; `None` for the list, or when the event
    /// has no ancestor at that level.
    pub fn text(self, event: &Event) -> Option<&str> {
        match self {
            Self::ProcessName(level) => Some(&Self::ancestor(event, level)?.process_name),
            Self::ExecutablePath(level) => Some(&Self::ancestor(event, level)?.executable_path),
            Self::ProcessNames => None,
        }
    }

    /// Whether it is the list of names (`ancestors.process-name`).
    pub fn is_list(self) -> bool {
        self == Self::ProcessNames
    }

    /// The names the list field holds in `event`; `None` for the others.
    pub fn texts(self, event: &Event) -> Option<impl Iterator<Item = &str>> {
        (self == Self::ProcessNames)
            .then(|| event.context.ancestors.iter().map(|a| &*a.process_name))
    }

    /// The field's value in `event`: text (`none` when the event has no
    /// ancestor at that level), or the list of names (empty without any).
    pub fn value(self, event: &Event) -> Value {
        match self.texts(event) {
            Some(names) => Value::TextList(names.map(str::to_owned).collect()),
            None => self
                .text(event)
                .map_or(Value::None, |text| Value::Text(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::{Context, Kind};

    fn ancestor(name: &str, path: &str) -> Ancestor {
        Ancestor {
            host_pid: 1,
            entity_id: 2,
            process_name: name.into(),
            executable_path: path.into(),
            start_ns: 3,
            ..Ancestor::default()
        }
    }

    fn event_with(ancestors: Vec<Ancestor>) -> Event {
        let context = Context {
            ancestors: Arc::from(ancestors),
            ..Context::default()
        };
        Event::new(context, Kind::SchedProcessExec)
    }

    #[test]
    fn names_resolve_to_levels_one_to_eight() {
        use AncestryField::*;
        assert_eq!(
            AncestryField::named("parent.process-name"),
            Some(ProcessName(1))
        );
        assert_eq!(
            AncestryField::named("parent.executable-path"),
            Some(ExecutablePath(1))
        );
        assert_eq!(
            AncestryField::named("ancestor.1.process-name"),
            Some(ProcessName(1))
        );
        assert_eq!(
            AncestryField::named("ancestor.8.executable-path"),
            Some(ExecutablePath(8))
        );
        assert_eq!(
            AncestryField::named("ancestors.process-name"),
            Some(ProcessNames)
        );
        for wrong in [
            "ancestor.0.process-name",
            "ancestor.9.process-name",
            "ancestor.x.process-name",
            "ancestor.2.uid",
            "parent.uid",
            "ancestors.executable-path",
            "process-name",
        ] {
            assert_eq!(AncestryField::named(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn levels_read_the_chain_nearest_first() {
        let event = event_with(vec![
            ancestor("sh", "/usr/bin/dash"),
            ancestor("nginx", "/usr/sbin/nginx"),
        ]);
        let field = |name| AncestryField::named(name).unwrap();
        assert_eq!(field("parent.process-name").text(&event), Some("sh"));
        assert_eq!(
            field("ancestor.2.executable-path").text(&event),
            Some("/usr/sbin/nginx")
        );
        assert_eq!(field("ancestor.3.process-name").text(&event), None);
        assert_eq!(field("ancestor.3.process-name").value(&event), Value::None);
        assert_eq!(
            field("ancestors.process-name").value(&event),
            Value::TextList(vec!["sh".into(), "nginx".into()])
        );
        let none = event_with(vec![]);
        assert_eq!(
            field("ancestors.process-name").value(&none),
            Value::TextList(vec![])
        );
    }
}
