//! TRC-1023 "Process memory access detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/proc_mem_access.go`).
//!
//! On `security_file_open` from any origin, one finding (no data) when
//! `flags` open the file for reading (`O_RDONLY` or `O_RDWR`, Tracee's `IsFileRead`) and
//! `pathname` is another process's memory file, as Tracee's regular expression
//! `/proc/(?:\d.+)/mem$` matches it (see [`is_proc_mem_path`]). An event
//! without a string `pathname` or an integer `flags` is an error, as in Tracee.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, Properties, Signature, is_file_read,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// The TRC-1023 signature. It keeps no state.
pub struct ProcMemAccess;

/// Whether Go's `regexp.MatchString` of Tracee's pattern
/// `/proc/(?:\d.+)/mem$` holds for `pathname`: it ends with `/mem` (`$` is
/// the end of the text), and before that some `/proc/` is followed by an
/// ASCII digit and at least one more character, none of them a newline (Go's
/// `.`). So `/proc/1/mem` does not match (a one-digit pid leaves `.+`
/// nothing) while `/proc/12/mem` and `/proc/1/task/1/mem` do, as in Tracee.
fn is_proc_mem_path(pathname: &str) -> bool {
    let Some(head) = pathname.strip_suffix("/mem") else {
        return false;
    };
    // The match cannot cross a newline: only the last line of `head` counts.
    let line = head.rsplit('\n').next().unwrap_or_default();
    let bytes = line.as_bytes();
    // Every `/proc/`, overlapping ones too (`/proc/proc/12/mem`).
    (0..bytes.len()).any(|at| {
        bytes[at..].starts_with(b"/proc/")
            && bytes.get(at + 6).is_some_and(u8::is_ascii_digit)
            && bytes.len() > at + 7
    })
}

/// Tracee's condition: the flags test first, then the pattern.
fn is_proc_mem_read(pathname: &str, flags: i64) -> bool {
    is_file_read(flags) && is_proc_mem_path(pathname)
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for ProcMemAccess {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1023".into(),
            version: "1".into(),
            name: "Process memory access detected".into(),
            event_name: "proc_mem_access".into(),
            // Verbatim from the Go source.
            description: "Process memory access detected. Adversaries may access other processes memory to steal credentials and secrets.".into(),
            tags: vec![],
            properties: Properties {
                severity: 3,
                category: "credential-access".into(),
                technique: "Proc Filesystem".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--3120b9fa-23b8-4500-ae73-09494f607b7d".into(),
                external_id: "T1003.007".into(),
                extra: vec![],
            },
        }
    }

    /// Read-opens of files named `mem` (Tracee's pattern ends with `/mem`),
    /// any origin; the rest of the pattern runs in the guest.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Read)
                .basename_in("pathname", &["mem"]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(ProcMemAccess)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let pathname = event.text("pathname")?;
        let flags = event.int("flags")?;
        Ok(findings_if(is_proc_mem_read(pathname, flags)))
    }
}

sigbox_sdk::export_signature!(ProcMemAccess);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-1023 must make of an event.
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

    fn check(case: &str, event: TestEvent, expected: Expect) {
        let outcome = ProcMemAccess::new(&[]).unwrap().on_event(&event.event());
        match (&expected, &outcome) {
            (Fires, Ok(findings)) => {
                assert_eq!(findings, &vec![Finding { data: vec![] }], "{case}")
            }
            (Silent, Ok(findings)) => assert!(findings.is_empty(), "{case}: {findings:?}"),
            (ErrorNaming(field), Err(error)) => assert!(error.contains(field), "{case}: {error}"),
            _ => panic!("{case}: expected {expected:?}, got {outcome:?}"),
        }
    }

    // Tracee v0.24.1, signatures/golang/proc_mem_access_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection",
            open(text("/proc/543/mem"), flags(O_RDONLY)),
            Fires,
        );
        check(
            "should not trigger detection - wrong open flags",
            open(text("/proc/543/mem"), flags(O_WRONLY)),
            Silent,
        );
        check(
            "should not trigger detection - wrong path",
            open(text("/var/543/mem"), flags(O_RDONLY)),
            Silent,
        );
    }

    #[test]
    fn edge_cases() {
        check(
            "read-write open",
            open(text("/proc/12/mem"), flags(O_RDWR)),
            Fires,
        );
        check(
            "a thread's memory",
            open(text("/proc/12/task/13/mem"), flags(O_RDONLY)),
            Fires,
        );
        check(
            "a one-digit pid does not match Tracee's pattern",
            open(text("/proc/1/mem"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "/proc/self is not a digit",
            open(text("/proc/self/mem"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "a prefix before /proc (unanchored)",
            open(text("/host/proc/4242/mem"), flags(O_RDONLY)),
            Fires,
        );
        check(
            "an overlapping /proc/",
            open(text("/proc/proc/12/mem"), flags(O_RDONLY)),
            Fires,
        );
        check(
            "mem must end the path",
            open(text("/proc/12/mem/x"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "not memfile",
            open(text("/proc/12/memx"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "$ is the end of the text, not of a line",
            open(text("/proc/12/mem\n"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "a newline inside (Go's . stops there)",
            open(text("/proc/1\n2/mem"), flags(O_RDONLY)),
            Silent,
        );
    }

    #[test]
    fn odd_input_is_an_error_naming_the_argument() {
        check(
            "no pathname",
            open(Value::None, flags(O_RDONLY)),
            ErrorNaming("pathname"),
        );
        check(
            "no flags",
            open(text("/proc/543/mem"), Value::None),
            ErrorNaming("flags"),
        );
        check(
            "flags as text",
            open(text("/proc/543/mem"), text("O_RDWR")),
            ErrorNaming("flags"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = ProcMemAccess::metadata();
        assert_eq!(metadata.id, "TRC-1023");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Process memory access detected");
        assert_eq!(metadata.event_name, "proc_mem_access");
        assert!(
            metadata
                .description
                .starts_with("Process memory access detected. Adversar")
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 3,
                category: "credential-access".into(),
                technique: "Proc Filesystem".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--3120b9fa-23b8-4500-ae73-09494f607b7d".into(),
                external_id: "T1003.007".into(),
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
            ProcMemAccess::selected_events(),
            vec![EventSelector {
                name: "security_file_open".into(),
                origin: OriginFilter::Any,
                filters: vec![
                    filter("flags", Test::AccessMode(Access::Read)),
                    filter("pathname", Test::BasenameIn(vec!["mem".into()]))
                ],
                fields: vec!["pathname".into(), "flags".into()],
            },]
        );
    }
}
