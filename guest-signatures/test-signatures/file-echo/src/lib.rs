//! TEST-FILE-ECHO: a test-only signature reporting one finding for each
//! `security_file_open` of [`OPENED`] and each `security_inode_rename` to
//! [`RENAMED`], with the event's arguments as the finding's data, so live
//! tests can check what the kernel side sends. Its filters are exact paths,
//! so the kernel drops every other open before it leaves the kernel.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The only file whose opens it selects.
pub const OPENED: &str = "/tmp/sigbox-e2e-file-echo/opened";
/// The only rename target it selects.
pub const RENAMED: &str = "/tmp/sigbox-e2e-file-echo/renamed";

const OPEN_FIELDS: [&str; 6] = [
    "pathname",
    "flags",
    "dev",
    "inode",
    "ctime",
    "syscall_pathname",
];
const RENAME_FIELDS: [&str; 2] = ["old_path", "new_path"];

/// The signature. It keeps no state.
pub struct FileEcho;

/// The finding's data: every declared field of the event, by name.
pub fn echo(event: &Event, fields: &[&str]) -> Vec<Field> {
    fields
        .iter()
        .filter_map(|name| {
            event.get(name).map(|value| Field {
                name: (*name).into(),
                value: value.clone(),
            })
        })
        .collect()
}

impl Signature for FileEcho {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-FILE-ECHO".into(),
            version: "1".into(),
            name: "Echo opens and renames of a test file (test only)".into(),
            event_name: "file_echo".into(),
            description: "Reports the arguments of opens and renames of one path. For tests."
                .into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new("security_file_open")
                .filter("pathname", &[OPENED])
                .reading(&OPEN_FIELDS),
            EventSelector::new("security_inode_rename")
                .filter("new_path", &[RENAMED])
                .reading(&RENAME_FIELDS),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(FileEcho)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let fields: &[&str] = match event.name() {
            "security_file_open" => &OPEN_FIELDS,
            _ => &RENAME_FIELDS,
        };
        Ok(vec![Finding {
            data: echo(event, fields),
        }])
    }
}

sigbox_sdk::export_signature!(FileEcho);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{TestEvent, Value};

    #[test]
    fn an_open_is_echoed_with_its_arguments() {
        let event = TestEvent::new("security_file_open")
            .text("pathname", OPENED)
            .with("flags", Value::Signed(0o100_101))
            .with("inode", Value::Unsigned(7));
        let data = echo(&event.event(), &OPEN_FIELDS);
        let names: Vec<&str> = data.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["pathname", "flags", "inode"]);
        assert_eq!(data[1].value, Value::Signed(0o100_101));
    }
}
