//! TRC-1014 "Container device mount detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/disk_mount.go`).
//!
//! In a started container, one finding (no data) for a `security_sb_mount`
//! whose `dev_name` starts with `/dev/`. Tracee reads the context flag
//! `ContainerStarted`, which is what makes an event's origin `container`
//! (`trace.Event.Origin`), so the origin stands for it. As in Tracee, a
//! missing or non-string `dev_name` is no finding and no error.

use sigbox_sdk::{
    Event, EventSelector, Field, Finding, Metadata, Origin, OriginFilter, Properties, Signature,
};

/// The event this signature selects.
const SECURITY_SB_MOUNT: &str = "security_sb_mount";

/// Device files: mounting one from a container mounts a host disk.
const DEV_DIR: &str = "/dev/";

/// The TRC-1014 signature. It keeps no state.
pub struct DiskMount;

impl Signature for DiskMount {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1014".into(),
            version: "1".into(),
            name: "Container device mount detected".into(),
            event_name: "disk_mount".into(),
            // Verbatim from the Go source.
            description: "Container device filesystem mount detected. A mount of a host device filesystem can be exploited by adversaries to perform container escape.".into(),
            tags: vec![],
            properties: Properties {
                severity: 3,
                category: "privilege-escalation".into(),
                technique: "Escape to Host".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665".into(),
                external_id: "T1611".into(),
                extra: vec![],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_SB_MOUNT)
                .origin(OriginFilter::Container)
                .reading(&["dev_name"]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(DiskMount)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let container_started = event.origin == Origin::Container;
        let mounts_a_device = event.name() == SECURITY_SB_MOUNT
            && container_started
            && event
                .text("dev_name")
                .is_ok_and(|dev_name| dev_name.starts_with(DEV_DIR));
        if mounts_a_device {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(DiskMount);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{TestEvent, Value};

    fn mount(origin: Origin, dev_name: Value) -> TestEvent {
        let mut event = TestEvent::new(SECURITY_SB_MOUNT).with("dev_name", dev_name);
        event.context.origin = origin;
        event
    }

    fn text(value: &str) -> Value {
        Value::Text(value.into())
    }

    fn run(event: TestEvent) -> Result<Vec<Finding>, String> {
        DiskMount::new(&[]).unwrap().on_event(&event.event())
    }

    fn fires() -> Result<Vec<Finding>, String> {
        Ok(vec![Finding { data: vec![] }])
    }

    // Tracee v0.24.1, signatures/golang/disk_mount_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        // "should trigger detection": /dev/sda1, container started.
        assert_eq!(run(mount(Origin::Container, text("/dev/sda1"))), fires());
        // "should not trigger detection - container not started".
        assert_eq!(
            run(mount(Origin::ContainerInit, text("/dev/sda1"))),
            Ok(vec![])
        );
        // "should not trigger detection - wrong path".
        assert_eq!(
            run(mount(Origin::Container, text("/tmp/something"))),
            Ok(vec![])
        );
    }

    #[test]
    fn edge_cases() {
        assert_eq!(run(mount(Origin::Host, text("/dev/sda1"))), Ok(vec![]));
        assert_eq!(run(mount(Origin::Container, text("/dev/"))), fires());
        for silent in ["/dev", "dev/sda1", "overlay", "", "/Dev/sda1"] {
            assert_eq!(run(mount(Origin::Container, text(silent))), Ok(vec![]));
        }
        // Tracee returns nil when dev_name is not a string.
        for odd in [Value::None, Value::TextList(vec!["/dev/sda1".into()])] {
            assert_eq!(run(mount(Origin::Container, odd)), Ok(vec![]));
        }
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = DiskMount::metadata();
        assert_eq!(
            (metadata.id.as_str(), metadata.version.as_str()),
            ("TRC-1014", "1")
        );
        assert_eq!(metadata.name, "Container device mount detected");
        assert_eq!(metadata.event_name, "disk_mount");
        assert_eq!(metadata.properties.technique, "Escape to Host");
        assert_eq!(metadata.properties.external_id, "T1611");
    }

    #[test]
    fn selects_container_mounts_reading_only_dev_name() {
        assert_eq!(
            DiskMount::selected_events(),
            vec![EventSelector {
                name: SECURITY_SB_MOUNT.into(),
                origin: OriginFilter::Container,
                filters: vec![],
                fields: vec!["dev_name".into()],
            }]
        );
    }
}
