//! TRC-107 "LD_PRELOAD code injection detected": Tracee's signature of the
//! same id (v0.24.1, `signatures/golang/ld_preload.go`), exec branch only.
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
//! Not served: Tracee's other two branches, a write-open of a path ending in
//! `/etc/ld.so.preload` (`security_file_open`) and a rename onto one
//! (`security_inode_rename`). sigbox does not deliver those events yet, so
//! this signature selects only `sched_process_exec`.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The variables that make the dynamic loader load other libraries, in the
/// order Tracee tests them against each entry.
const PRELOAD_ENVS: [&str; 2] = ["LD_PRELOAD", "LD_LIBRARY_PATH"];

/// The event this signature selects.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

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

    /// Every exec, with no host-side filter (host filters are exact-match,
    /// and `env` is a list tested by prefix). Only `env` crosses into the
    /// sandbox.
    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new(SCHED_PROCESS_EXEC).reading(&["env"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(LdPreload)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        // Tracee returns nil when env is missing or not a []string; so do we.
        let Some(Value::TextList(env)) = event.get("env") else {
            return Ok(vec![]);
        };
        Ok(preload_entry(env)
            .map(|(name, entry)| Finding {
                data: vec![Field {
                    name: name.into(),
                    value: Value::Text(entry.into()),
                }],
            })
            .into_iter()
            .collect())
    }
}

sigbox_sdk::export_signature!(LdPreload);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{Instance, OriginFilter, TestEvent, WireEvent};

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
    fn selects_every_exec_reading_only_env() {
        assert_eq!(
            LdPreload::selected_events(),
            vec![EventSelector {
                name: "sched_process_exec".into(),
                origin: OriginFilter::Any,
                filters: vec![],
                fields: vec!["env".into()],
            }]
        );
    }
}
