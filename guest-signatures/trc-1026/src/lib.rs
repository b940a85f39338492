//! TRC-1026 "Rcd modification detected": Tracee's signature of the same id
//! (v0.24.1, `signatures/golang/rcd_modification.go`), exec branch only.
//!
//! On `sched_process_exec`, a finding (with no data) is reported when the
//! basename of the executed file's `pathname` (Go's `path.Base`) is exactly
//! `update-rc.d`. An exec event without a string `pathname` is an error,
//! never a finding, as in Tracee.
//!
//! Not served: Tracee's other two branches, a write-open (`security_file_open`)
//! or a rename onto (`security_inode_rename`) one of the rc files
//! (`/etc/rc.local`, `/etc/init.d/rc.local`) or a path under the rc
//! directories (`/etc/rc1.d` ... `/etc/rc.d`). sigbox does not deliver those
//! events yet, so this signature selects only `sched_process_exec`.

use sigbox_sdk::{
    Event, EventSelector, Field, Finding, Metadata, Properties, Signature, path_base,
};

/// The command that installs and removes System-V init script links.
const RCD_COMMAND: &str = "update-rc.d";

/// The event this signature selects.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

/// The TRC-1026 signature. It keeps no state.
pub struct RcdModification;

impl Signature for RcdModification {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1026".into(),
            version: "1".into(),
            name: "Rcd modification detected".into(),
            event_name: "rcd_modification".into(),
            description: "The rcd files were modified. rcd files are scripts executed on boot \
                and runlevel switch. Those scripts are responsible for service control in \
                runlevel switch. Adversaries may add or modify rcd files in order to persist a \
                reboot, thus maintaining malicious execution on the affected host."
                .into(),
            tags: vec![],
            properties: Properties {
                severity: 2,
                category: "persistence".into(),
                technique: "RC Scripts".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--dca670cf-eeec-438f-8185-fd959d9ef211".into(),
                external_id: "T1037.004".into(),
                extra: vec![],
            },
        }
    }

    /// Every exec, with no host-side filter: host filters are exact-match on
    /// the whole `pathname`, and the command may be installed anywhere. Only
    /// `pathname` crosses into the sandbox.
    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new(SCHED_PROCESS_EXEC).reading(&["pathname"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(RcdModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if path_base(event.text("pathname")?) == RCD_COMMAND {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(RcdModification);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{Instance, OriginFilter, TestEvent, Value, WireEvent};

    fn exec_with(pathname: Value) -> TestEvent {
        TestEvent::new(SCHED_PROCESS_EXEC).with("pathname", pathname)
    }

    fn run(event: &TestEvent) -> Result<Vec<Finding>, String> {
        RcdModification::new(&[]).unwrap().on_event(&event.event())
    }

    fn finds(pathname: &str) -> bool {
        match run(&exec_with(Value::Text(pathname.into()))) {
            Ok(findings) if findings.is_empty() => false,
            Ok(findings) => {
                assert_eq!(findings, vec![Finding { data: vec![] }]);
                true
            }
            Err(error) => panic!("unexpected error: {error}"),
        }
    }

    // Tracee v0.24.1, signatures/golang/rcd_modification_test.go (its
    // sched_process_exec cases; the other two events are not served).
    #[test]
    fn tracee_v0_24_1_cases() {
        assert!(finds("/bin/update-rc.d"));
        assert!(!finds("/bin/ls"));
    }

    #[test]
    fn the_command_matches_from_any_directory() {
        assert!(finds("/usr/sbin/update-rc.d"));
        assert!(finds("/tmp/x/update-rc.d"));
        assert!(finds("update-rc.d"));
        // path.Base ignores trailing slashes.
        assert!(finds("/usr/sbin/update-rc.d/"));
    }

    #[test]
    fn near_misses_do_not_match() {
        assert!(!finds("/usr/sbin/update-rc.dx"));
        assert!(!finds("/usr/sbin/xupdate-rc.d"));
        assert!(!finds("/usr/sbin/Update-rc.d"));
        assert!(!finds("/usr/sbin/update-rc"));
        assert!(!finds("/usr/sbin/update-rc.d/x"));
        assert!(!finds("/etc/rc.local"));
        assert!(!finds("/"));
        assert!(!finds(""));
    }

    #[test]
    fn missing_or_non_string_pathname_is_an_error() {
        for value in [
            Value::None,
            Value::Signed(7),
            Value::TextList(vec!["/usr/sbin/update-rc.d".into()]),
            Value::Json("\"/usr/sbin/update-rc.d\"".into()),
        ] {
            let error = run(&exec_with(value)).expect_err("expected an error");
            assert!(error.contains("pathname"), "error should name it: {error}");
        }
    }

    #[test]
    fn runs_through_an_instance_like_the_host() {
        let instance = Instance::<RcdModification>::new();
        instance.init(&[]).unwrap();
        let wire = |path: Value, pid| WireEvent {
            selector: 0,
            context: sigbox_sdk::Context::with_pid(pid),
            fields: vec![path],
        };
        let outcomes = instance.on_events(&[
            wire(Value::Text("/usr/sbin/update-rc.d".into()), 1),
            wire(Value::Text("/usr/bin/ls".into()), 2),
            wire(Value::None, 3),
        ]);
        let positions: Vec<u32> = outcomes.iter().map(|o| o.event).collect();
        assert_eq!(positions, vec![0, 2]);
        assert_eq!(outcomes[0].findings, Ok(vec![Finding { data: vec![] }]));
        assert!(outcomes[1].findings.is_err());
    }

    #[test]
    fn metadata_is_exact() {
        let metadata = RcdModification::metadata();
        assert_eq!(metadata.id, "TRC-1026");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Rcd modification detected");
        assert_eq!(metadata.event_name, "rcd_modification");
        assert_eq!(
            metadata.description,
            // Verbatim from the Go source, on one line.
            "The rcd files were modified. rcd files are scripts executed on boot and runlevel switch. Those scripts are responsible for service control in runlevel switch. Adversaries may add or modify rcd files in order to persist a reboot, thus maintaining malicious execution on the affected host."
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 2,
                category: "persistence".into(),
                technique: "RC Scripts".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--dca670cf-eeec-438f-8185-fd959d9ef211".into(),
                external_id: "T1037.004".into(),
                extra: vec![],
            }
        );
    }

    #[test]
    fn selects_every_exec_reading_only_pathname() {
        assert_eq!(
            RcdModification::selected_events(),
            vec![EventSelector {
                name: "sched_process_exec".into(),
                origin: OriginFilter::Any,
                filters: vec![],
                fields: vec!["pathname".into()],
            }]
        );
    }
}
