//! TRC-107 "LD_PRELOAD code injection detected": Tracee's signature of the
//! same id (v0.24.1, `signatures/golang/ld_preload.go`).
//!
//! On `sched_process_exec`, one finding is reported when the new program's
//! environment (`env`, a list of `"NAME=value"` strings) sets `LD_PRELOAD` or
//! `LD_LIBRARY_PATH`: an entry starts with `LD_PRELOAD=` or
//! `LD_LIBRARY_PATH=` (case-sensitive). As in Tracee, only the first such
//! entry is reported, and the finding's data is that variable's name mapped
//! to the whole entry, e.g. `LD_PRELOAD: "LD_PRELOAD=/tmp/evil.so"`.
//!
//! Unlike the other Tracee ports here, an exec without a list-of-strings
//! `env` is neither a finding nor an error: Tracee's Go ignores that error
//! (`return nil`), and for good reason, as Tracee only captures `env` when
//! asked to (`--capture exec-env`), so most exec events carry it as null.
//!
//! On `security_file_open`, one finding (no data) when `pathname` ends with
//! `/etc/ld.so.preload` and `flags` open it for writing (`O_WRONLY` or
//! `O_RDWR`, Tracee's `IsFileWrite`); on `security_inode_rename`, when
//! `new_path` ends with it. There a missing or mistyped argument is an
//! error, as in Tracee (which reads `pathname`, then `flags`).

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value,
    is_file_write,
};

/// The variables that make the dynamic loader load other libraries, in the
/// order Tracee tests them against each entry.
const PRELOAD_ENVS: [&str; 2] = ["LD_PRELOAD", "LD_LIBRARY_PATH"];

/// The file listing libraries the loader preloads into every program.
const PRELOAD_PATH: &str = "/etc/ld.so.preload";

/// An event this signature selects.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// An event this signature selects.
const SECURITY_INODE_RENAME: &str = "security_inode_rename";

/// The TRC-107 signature. It keeps no state.
pub struct LdPreload;

/// The first entry of `env` setting a preload variable, with that variable:
/// entries in order, each tested against both variables, as Tracee's loops.
fn preload_entry(env: &[String]) -> Option<(&'static str, &str)> {
    env.iter().find_map(|entry| {
        PRELOAD_ENVS.iter().find_map(|name| {
            // "NAME=": the name exactly, not a longer one like LD_PRELOAD_X.
            let rest = entry.strip_prefix(name)?;
            rest.starts_with('=').then_some((*name, entry.as_str()))
        })
    })
}

impl Signature for LdPreload {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-107".into(),
            version: "1".into(),
            name: "LD_PRELOAD code injection detected".into(),
            event_name: "ld_preload".into(),
            description: "LD_PRELOAD usage was detected. LD_PRELOAD lets you load your \
                library before any other library, allowing you to hook functions in a \
                process. Adversaries may use this technique to change your applications' \
                behavior or load their own programs."
                .into(),
            tags: vec![],
            properties: Properties {
                severity: 2,
                category: "persistence".into(),
                technique: "Hijack Execution Flow".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--aedfca76-3b30-4866-b2aa-0f1d7fd1e4b6".into(),
                external_id: "T1574".into(),
                extra: vec![],
            },
        }
    }

    /// Every exec (`env` is a list, which no filter tests), write-opens and
    /// renames onto a path ending with `/etc/ld.so.preload` (whose basename is
    /// then `ld.so.preload`: the kernel tests that, the host the suffix too).
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SCHED_PROCESS_EXEC).reading(&["env"]),
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Write)
                .basename_in("pathname", &["ld.so.preload"])
                .suffix("pathname", &[PRELOAD_PATH]),
            EventSelector::new(SECURITY_INODE_RENAME)
                .reading(&["new_path"])
                .basename_in("new_path", &["ld.so.preload"])
                .suffix("new_path", &[PRELOAD_PATH]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(LdPreload)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let preload_written = match event.name() {
            SCHED_PROCESS_EXEC => return Ok(preload_env_finding(event)),
            SECURITY_FILE_OPEN => {
                let pathname = event.text("pathname")?;
                is_file_write(event.int("flags")?) && is_preload_path(pathname)
            }
            SECURITY_INODE_RENAME => is_preload_path(event.text("new_path")?),
            _ => false,
        };
        Ok(if preload_written {
            vec![Finding { data: vec![] }]
        } else {
            vec![]
        })
    }
}

/// The exec branch: a finding naming the first preload variable `env` sets.
fn preload_env_finding(event: &Event) -> Vec<Finding> {
    // Tracee returns nil when env is missing or not a []string; so do we.
    let Some(Value::TextList(env)) = event.get("env") else {
        return vec![];
    };
    preload_entry(env)
        .map(|(name, entry)| Finding {
            data: vec![Field {
                name: name.into(),
                value: Value::Text(entry.into()),
            }],
        })
        .into_iter()
        .collect()
}

/// The file branches' test on the written or renamed-onto path (Tracee's
/// `strings.HasSuffix`, so a container's view under a host path counts).
fn is_preload_path(path: &str) -> bool {
    path.ends_with(PRELOAD_PATH)
}

sigbox_sdk::export_signature!(LdPreload);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, Instance, OriginFilter, Test, TestEvent, WireEvent};

    fn exec_with(env: Value) -> TestEvent {
        TestEvent::new(SCHED_PROCESS_EXEC).with("env", env)
    }

    fn list(entries: &[&str]) -> Value {
        Value::TextList(entries.iter().map(|e| e.to_string()).collect())
    }

    fn run(event: &TestEvent) -> Vec<Finding> {
        LdPreload::new(&[])
            .unwrap()
            .on_event(&event.event())
            .expect("TRC-107 never errors on an exec")
    }

    /// The finding TRC-107 reports for `entries`, as (name, entry), if any.
    fn found(entries: &[&str]) -> Option<(String, String)> {
        let findings = run(&exec_with(list(entries)));
        assert!(findings.len() <= 1, "at most one finding: {findings:?}");
        let finding = findings.into_iter().next()?;
        assert_eq!(finding.data.len(), 1, "{finding:?}");
        let field = &finding.data[0];
        match &field.value {
            Value::Text(entry) => Some((field.name.clone(), entry.clone())),
            other => panic!("data value should be text: {other:?}"),
        }
    }

    fn pair(name: &str, entry: &str) -> Option<(String, String)> {
        Some((name.into(), entry.into()))
    }

    // Tracee v0.24.1, signatures/golang/ld_preload_test.go (its
    // sched_process_exec cases; the other two events are not served). The
    // Go events also carry argv, which the signature does not read.
    #[test]
    fn tracee_v0_24_1_cases() {
        assert_eq!(
            found(&["FOO=BAR", "LD_PRELOAD=/something"]),
            pair("LD_PRELOAD", "LD_PRELOAD=/something")
        );
        assert_eq!(found(&["FOO=BAR", "LD_LOAD=/something"]), None);
    }

    #[test]
    fn ld_library_path_matches_too() {
        assert_eq!(
            found(&["LD_LIBRARY_PATH=/tmp/lib"]),
            pair("LD_LIBRARY_PATH", "LD_LIBRARY_PATH=/tmp/lib")
        );
        // An empty value still sets the variable.
        assert_eq!(found(&["LD_PRELOAD="]), pair("LD_PRELOAD", "LD_PRELOAD="));
    }

    #[test]
    fn only_the_first_matching_entry_is_reported() {
        assert_eq!(
            found(&["LD_LIBRARY_PATH=/a", "LD_PRELOAD=/b.so"]),
            pair("LD_LIBRARY_PATH", "LD_LIBRARY_PATH=/a")
        );
        assert_eq!(
            found(&["PATH=/bin", "LD_PRELOAD=/b.so", "LD_LIBRARY_PATH=/a"]),
            pair("LD_PRELOAD", "LD_PRELOAD=/b.so")
        );
    }

    #[test]
    fn near_misses_do_not_match() {
        assert_eq!(found(&["XLD_PRELOAD=/x.so"]), None);
        assert_eq!(found(&["LD_PRELOADX=/x.so"]), None);
        assert_eq!(found(&["LD_PRELOAD"]), None);
        assert_eq!(found(&["ld_preload=/x.so"]), None);
        assert_eq!(found(&[" LD_PRELOAD=/x.so"]), None);
        assert_eq!(found(&["FOO=LD_PRELOAD=/x.so"]), None);
        assert_eq!(found(&["LD_LIBRARY_PATHS=/a"]), None);
        assert_eq!(found(&[]), None);
    }

    #[test]
    fn missing_or_non_list_env_is_ignored_as_in_tracee() {
        for value in [
            Value::None,
            Value::Text("LD_PRELOAD=/x.so".into()),
            Value::Signed(1),
            Value::Json("[\"LD_PRELOAD=/x.so\", 1]".into()),
        ] {
            assert_eq!(run(&exec_with(value)), vec![]);
        }
        // Not even declared (an event view without the field).
        assert_eq!(run(&TestEvent::new(SCHED_PROCESS_EXEC)), vec![]);
    }

    #[test]
    fn runs_through_an_instance_like_the_host() {
        let instance = Instance::<LdPreload>::new();
        instance.init(&[]).unwrap();
        let wire = |env: Value, pid| WireEvent {
            selector: 0,
            context: sigbox_sdk::Context::with_pid(pid),
            fields: vec![env],
        };
        let outcomes = instance.on_events(&[
            wire(list(&["HOME=/root"]), 1),
            wire(list(&["LD_PRELOAD=/x.so"]), 2),
            wire(Value::None, 3),
        ]);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].event, 1);
        assert_eq!(
            outcomes[0].findings,
            Ok(vec![Finding {
                data: vec![Field {
                    name: "LD_PRELOAD".into(),
                    value: Value::Text("LD_PRELOAD=/x.so".into()),
                }],
            }])
        );
    }

    #[test]
    fn metadata_is_exact() {
        let metadata = LdPreload::metadata();
        assert_eq!(metadata.id, "TRC-107");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "LD_PRELOAD code injection detected");
        assert_eq!(metadata.event_name, "ld_preload");
        assert_eq!(
            metadata.description,
            // Verbatim from the Go source, on one line.
            "LD_PRELOAD usage was detected. LD_PRELOAD lets you load your library before any other library, allowing you to hook functions in a process. Adversaries may use this technique to change your applications' behavior or load their own programs."
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 2,
                category: "persistence".into(),
                technique: "Hijack Execution Flow".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--aedfca76-3b30-4866-b2aa-0f1d7fd1e4b6".into(),
                external_id: "T1574".into(),
                extra: vec![],
            }
        );
    }

    #[test]
    fn selects_every_exec_open_and_rename_reading_only_what_it_tests() {
        let filter = |field: &str, test: Test| FieldFilter {
            field: field.into(),
            test,
        };
        assert_eq!(
            LdPreload::selected_events(),
            vec![
                EventSelector {
                    name: "sched_process_exec".into(),
                    origin: OriginFilter::Any,
                    filters: vec![],
                    fields: vec!["env".into()],
                },
                EventSelector {
                    name: "security_file_open".into(),
                    origin: OriginFilter::Any,
                    filters: vec![
                        filter("flags", Test::AccessMode(Access::Write)),
                        filter("pathname", Test::BasenameIn(vec!["ld.so.preload".into()])),
                        filter("pathname", Test::Suffix(vec!["/etc/ld.so.preload".into()]))
                    ],
                    fields: vec!["pathname".into(), "flags".into()],
                },
                EventSelector {
                    name: "security_inode_rename".into(),
                    origin: OriginFilter::Any,
                    filters: vec![
                        filter("new_path", Test::BasenameIn(vec!["ld.so.preload".into()])),
                        filter("new_path", Test::Suffix(vec!["/etc/ld.so.preload".into()]))
                    ],
                    fields: vec!["new_path".into()],
                },
            ]
        );
    }

    fn open(pathname: Value, flags: Value) -> TestEvent {
        TestEvent::new(SECURITY_FILE_OPEN)
            .with("pathname", pathname)
            .with("flags", flags)
    }

    fn rename(new_path: Value) -> TestEvent {
        TestEvent::new(SECURITY_INODE_RENAME).with("new_path", new_path)
    }

    fn text(value: &str) -> Value {
        Value::Text(value.into())
    }

    /// What a file event gives: Ok(true) for one finding without data.
    fn file_outcome(event: TestEvent) -> Result<bool, String> {
        let findings = LdPreload::new(&[]).unwrap().on_event(&event.event())?;
        assert!(findings.is_empty() || findings == vec![Finding { data: vec![] }]);
        Ok(!findings.is_empty())
    }

    const O_RDONLY: Value = Value::Signed(0);
    const O_WRONLY: Value = Value::Signed(1);

    // Tracee v0.24.1, signatures/golang/ld_preload_test.go: its file cases.
    #[test]
    fn tracee_v0_24_1_file_cases() {
        assert_eq!(
            file_outcome(open(text("/etc/ld.so.preload"), O_WRONLY)),
            Ok(true)
        );
        assert_eq!(file_outcome(rename(text("/etc/ld.so.preload"))), Ok(true));
        assert_eq!(
            file_outcome(open(text("/var/lib/some_file"), O_WRONLY)),
            Ok(false)
        );
        assert_eq!(
            file_outcome(open(text("/etc/ld.so.preload"), O_RDONLY)),
            Ok(false)
        );
        assert_eq!(file_outcome(rename(text("/tmp/something"))), Ok(false));
    }

    #[test]
    fn file_edge_cases() {
        // O_RDWR, O_WRONLY|O_CREAT|O_APPEND; a path ending with the file.
        assert_eq!(
            file_outcome(open(text("/etc/ld.so.preload"), Value::Signed(2))),
            Ok(true)
        );
        assert_eq!(
            file_outcome(open(text("/etc/ld.so.preload"), Value::Signed(0o2101))),
            Ok(true)
        );
        assert_eq!(
            file_outcome(rename(text("/host/etc/ld.so.preload"))),
            Ok(true)
        );
        assert_eq!(
            file_outcome(open(text("/etc/ld.so.preload"), Value::Unsigned(1))),
            Ok(true)
        );
        // Access mode 3; a longer name; the file renamed away.
        assert_eq!(
            file_outcome(open(text("/etc/ld.so.preload"), Value::Signed(3))),
            Ok(false)
        );
        assert_eq!(
            file_outcome(rename(text("/etc/ld.so.preload.bak"))),
            Ok(false)
        );
        assert_eq!(file_outcome(rename(text("/etc/ld.so.preloadx"))), Ok(false));
    }

    #[test]
    fn file_events_without_their_arguments_are_errors_naming_them() {
        for (event, field) in [
            (open(Value::None, O_WRONLY), "pathname"),
            (open(Value::Signed(5), O_WRONLY), "pathname"),
            (open(text("/etc/ld.so.preload"), Value::None), "flags"),
            (open(text("/etc/ld.so.preload"), text("O_WRONLY")), "flags"),
            (rename(Value::None), "new_path"),
        ] {
            let error = file_outcome(event).expect_err(field);
            assert!(error.contains(field), "{error}");
        }
    }
}
