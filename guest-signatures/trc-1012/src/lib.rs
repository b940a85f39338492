//! TRC-1012 "Default dynamic loader modification detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/default_loader_modification.go`).
//!
//! From any origin, one finding (no data) when a dynamic loader path is
//! opened for writing (`security_file_open` with `O_WRONLY` or `O_RDWR` in
//! `flags`, then its `pathname`) or renamed onto (`new_path` of
//! `security_inode_rename`). A loader path is what Tracee's regular expression
//! `^\/(lib|usr\/lib).*\/ld.*\.so[^\/]*` matches (see
//! [`is_dynamic_loader_path`]). As in Tracee, `flags` is read first and
//! `pathname` only for a write; a missing or mistyped argument that is read is
//! an error.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, Properties, Signature, is_file_write,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// An event this signature selects.
const SECURITY_INODE_RENAME: &str = "security_inode_rename";

/// The directories Tracee's pattern anchors at (`^\/(lib|usr\/lib)`).
const LIBRARY_DIRS: [&str; 2] = ["/lib", "/usr/lib"];

/// The TRC-1012 signature. It keeps no state.
pub struct DefaultLoaderModification;

/// Whether Go's `regexp.MatchString` of Tracee's pattern
/// `^\/(lib|usr\/lib).*\/ld.*\.so[^\/]*` holds for `path`: it starts
/// with `/lib` or `/usr/lib`, and after that an `/ld` is followed, later, by
/// `.so` (the trailing `[^\/]*` may match nothing, and the end is not
/// anchored). Go's `.` does not match a newline and no literal part holds
/// one, so a match lies within the first line; taking the first `/ld`
/// leaves the most room for `.so` after it.
fn is_dynamic_loader_path(path: &str) -> bool {
    let first_line = path.split('\n').next().unwrap_or_default();
    LIBRARY_DIRS.iter().any(|dir| {
        first_line.strip_prefix(dir).is_some_and(|rest| {
            rest.find("/ld")
                .is_some_and(|at| rest[at + "/ld".len()..].contains(".so"))
        })
    })
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for DefaultLoaderModification {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1012".into(),
            version: "1".into(),
            name: "Default dynamic loader modification detected".into(),
            event_name: "default_loader_mod".into(),
            // Verbatim from the Go source.
            description: "The default dynamic loader has been modified. The dynamic loader is an executable file loaded to process memory and run before the executable to load dynamic libraries to the process. An attacker might use this technique to hijack the execution context of each new process and bypass defenses.".into(),
            tags: vec![],
            properties: Properties {
                severity: 3,
                category: "defense-evasion".into(),
                technique: "Hijack Execution Flow".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--aedfca76-3b30-4866-b2aa-0f1d7fd1e4b6".into(),
                external_id: "T1574".into(),
                extra: vec![],
            },
        }
    }

    /// Write-opens and renames onto paths under Tracee's anchors (`/lib`,
    /// `/usr/lib`, any origin); the rest of the pattern runs in the guest.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["flags", "pathname"])
                .access_mode("flags", Access::Write)
                .prefix("pathname", &LIBRARY_DIRS),
            EventSelector::new(SECURITY_INODE_RENAME)
                .reading(&["new_path"])
                .prefix("new_path", &LIBRARY_DIRS),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(DefaultLoaderModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let matched = match event.name() {
            SECURITY_FILE_OPEN => {
                is_file_write(event.int("flags")?)
                    && is_dynamic_loader_path(event.text("pathname")?)
            }
            SECURITY_INODE_RENAME => is_dynamic_loader_path(event.text("new_path")?),
            _ => false,
        };
        Ok(findings_if(matched))
    }
}

sigbox_sdk::export_signature!(DefaultLoaderModification);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-1012 must make of an event.
    #[derive(Debug)]
    enum Expect {
        Fires,
        Silent,
        ErrorNaming(&'static str),
    }
    use Expect::*;

    const O_RDONLY: i64 = 0o0;
    const O_WRONLY: i64 = 0o1;
    const O_RDWR: i64 = 0o2;
    const O_CREAT: i64 = 0o100;
    const O_TRUNC: i64 = 0o1000;

    fn flags(flags: i64) -> Value {
        Value::Signed(flags)
    }

    fn text(value: &str) -> Value {
        Value::Text(value.into())
    }

    fn open(pathname: Value, flags: Value) -> TestEvent {
        TestEvent::new(SECURITY_FILE_OPEN)
            .with("pathname", pathname)
            .with("flags", flags)
    }

    fn rename(old_path: Value, new_path: Value) -> TestEvent {
        TestEvent::new(SECURITY_INODE_RENAME)
            .with("old_path", old_path)
            .with("new_path", new_path)
    }

    fn check(case: &str, event: TestEvent, expected: Expect) {
        let outcome = DefaultLoaderModification::new(&[])
            .unwrap()
            .on_event(&event.event());
        match (&expected, &outcome) {
            (Fires, Ok(findings)) => {
                assert_eq!(findings, &vec![Finding { data: vec![] }], "{case}")
            }
            (Silent, Ok(findings)) => assert!(findings.is_empty(), "{case}: {findings:?}"),
            (ErrorNaming(field), Err(error)) => assert!(error.contains(field), "{case}: {error}"),
            _ => panic!("{case}: expected {expected:?}, got {outcome:?}"),
        }
    }

    // Tracee v0.24.1, signatures/golang/default_loader_modification_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection - security_file_open",
            open(
                text("/usr/lib/x86_64-linux-gnu/ld-2.31.so"),
                flags(O_WRONLY),
            ),
            Fires,
        );
        check(
            "should trigger detection - security_inode_rename",
            rename(
                text("/tmp/staged"),
                text("/usr/lib/x86_64-linux-gnu/ld-2.31.so"),
            ),
            Fires,
        );
        check(
            "should not trigger detection - security_file_open wrong open flags",
            open(
                text("/usr/lib/x86_64-linux-gnu/ld-2.31.so"),
                flags(O_RDONLY),
            ),
            Silent,
        );
        check(
            "should not trigger detection - security_file_open wrong path",
            open(text("/tmp/something"), flags(O_WRONLY)),
            Silent,
        );
        check(
            "should not trigger detection - security_inode_rename wrong path",
            rename(text("/tmp/staged"), text("/tmp/something")),
            Silent,
        );
    }

    #[test]
    fn edge_cases() {
        check(
            "Debian's loader, written",
            open(
                text("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
                flags(O_WRONLY | O_CREAT | O_TRUNC),
            ),
            Fires,
        );
        check(
            "/lib64 starts with /lib",
            open(text("/lib64/ld-linux-x86-64.so.2"), flags(O_RDWR)),
            Fires,
        );
        check(
            "/lib/ld.so itself",
            rename(text("/tmp/staged"), text("/lib/ld.so")),
            Fires,
        );
        check(
            "ld.so.conf under /usr/lib matches the pattern too",
            rename(text("/tmp/staged"), text("/usr/lib/ld.so.conf")),
            Fires,
        );
        check(
            "/etc/ld.so.preload is not under /lib",
            rename(text("/tmp/staged"), text("/etc/ld.so.preload")),
            Silent,
        );
        check(
            "/usr/local/lib is not /usr/lib",
            rename(text("/tmp/staged"), text("/usr/local/lib/ld-2.31.so")),
            Silent,
        );
        check(
            "no /ld before .so",
            rename(
                text("/tmp/staged"),
                text("/usr/lib/x86_64-linux-gnu/libldap.so.2"),
            ),
            Silent,
        );
        check(
            ".so before /ld only",
            rename(text("/tmp/staged"), text("/lib/x.so/ld-x")),
            Silent,
        );
        check(
            "a newline before .so (Go's . stops there)",
            rename(text("/tmp/staged"), text("/lib/ld-linux\n.so.2")),
            Silent,
        );
        check(
            "a newline after the match",
            rename(text("/tmp/staged"), text("/lib/ld-linux.so.2\nx")),
            Fires,
        );
        check(
            "a read-open never reads pathname",
            open(Value::None, flags(O_RDONLY)),
            Silent,
        );
    }

    #[test]
    fn odd_input_is_an_error_naming_the_argument() {
        check(
            "a write-open without pathname",
            open(Value::None, flags(O_WRONLY)),
            ErrorNaming("pathname"),
        );
        check(
            "no flags",
            open(text("/lib/ld-linux.so.2"), Value::None),
            ErrorNaming("flags"),
        );
        check(
            "no new_path",
            rename(text("/tmp/staged"), Value::None),
            ErrorNaming("new_path"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = DefaultLoaderModification::metadata();
        assert_eq!(metadata.id, "TRC-1012");
        assert_eq!(metadata.version, "1");
        assert_eq!(
            metadata.name,
            "Default dynamic loader modification detected"
        );
        assert_eq!(metadata.event_name, "default_loader_mod");
        assert!(
            metadata
                .description
                .starts_with("The default dynamic loader has been modi")
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 3,
                category: "defense-evasion".into(),
                technique: "Hijack Execution Flow".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--aedfca76-3b30-4866-b2aa-0f1d7fd1e4b6".into(),
                external_id: "T1574".into(),
                extra: vec![],
            }
        );
    }

    #[test]
    fn selects_tracees_events_reading_only_what_it_uses() {
        let filter = |field: &str, test: Test| FieldFilter {
            field: field.into(),
            test,
        };
        assert_eq!(
            DefaultLoaderModification::selected_events(),
            vec![
                EventSelector {
                    name: "security_file_open".into(),
                    origin: OriginFilter::Any,
                    filters: vec![
                        filter("flags", Test::AccessMode(Access::Write)),
                        filter(
                            "pathname",
                            Test::Prefix(vec!["/lib".into(), "/usr/lib".into()])
                        )
                    ],
                    fields: vec!["flags".into(), "pathname".into()],
                },
                EventSelector {
                    name: "security_inode_rename".into(),
                    origin: OriginFilter::Any,
                    filters: vec![filter(
                        "new_path",
                        Test::Prefix(vec!["/lib".into(), "/usr/lib".into()])
                    )],
                    fields: vec!["new_path".into()],
                },
            ]
        );
    }
}
