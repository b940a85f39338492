//! TEST-CONTAINER-ECHO: a test-only signature reporting the container of
//! every exec whose image the host's filter matches (`container.image`
//! starting with `localhost/sigbox-containers-e2e`), so tests see that the
//! container's name and image are filterable and reach the sandbox.
//!
//! The finding's data: `id`, `name`, `image`, `image_digest`, `pod_name`,
//! `pod_namespace`, `pod_uid` (texts) and `pod_sandbox` (a boolean), as read.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The images the host lets through.
pub const IMAGE_PREFIX: &str = "localhost/sigbox-containers-e2e";

/// The text fields it reads, and their names in the finding.
const FIELDS: [(&str, &str); 7] = [
    ("container-id", "id"),
    ("container.name", "name"),
    ("container.image", "image"),
    ("container.image-digest", "image_digest"),
    ("kubernetes.pod-name", "pod_name"),
    ("kubernetes.pod-namespace", "pod_namespace"),
    ("kubernetes.pod-uid", "pod_uid"),
];
/// The boolean field it reads.
const SANDBOX: &str = "kubernetes.pod-sandbox";

/// The signature. It keeps no state.
pub struct ContainerEcho;

impl Signature for ContainerEcho {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-CONTAINER-ECHO".into(),
            version: "1".into(),
            name: "Echo the container of execs in test images (test only)".into(),
            event_name: "container_echo".into(),
            description: "Reports the container name and image of execs in the e2e tests' \
                          images. For tests."
                .into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        let mut fields = FIELDS.map(|(field, _)| field).to_vec();
        fields.push(SANDBOX);
        vec![
            EventSelector::new("sched_process_exec")
                .prefix("container.image", &[IMAGE_PREFIX])
                .reading(&fields),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let mut data = FIELDS
            .iter()
            .map(|(field, name)| {
                Ok(Field {
                    name: (*name).into(),
                    value: Value::Text(event.text(field)?.into()),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let sandbox = event.get(SANDBOX).cloned().unwrap_or(Value::None);
        data.push(Field {
            name: "pod_sandbox".into(),
            value: sandbox,
        });
        Ok(vec![Finding { data }])
    }
}

sigbox_sdk::export_signature!(ContainerEcho);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::TestEvent;

    #[test]
    fn echoes_the_container_it_reads() {
        let event = TestEvent::new("sched_process_exec")
            .text("container-id", "c1")
            .text("container.name", "web")
            .text("container.image", "localhost/sigbox-containers-e2e:1")
            .text("container.image-digest", "")
            .text("kubernetes.pod-name", "web-7d9f")
            .text("kubernetes.pod-namespace", "shop")
            .text("kubernetes.pod-uid", "1c2d")
            .with(SANDBOX, Value::Boolean(false));
        let findings = ContainerEcho::new(&[])
            .unwrap()
            .on_event(&event.event())
            .unwrap();
        let data = &findings[0].data;
        assert_eq!(data[1].name, "name");
        assert_eq!(data[1].value, Value::Text("web".into()));
        assert_eq!(
            data[2].value,
            Value::Text("localhost/sigbox-containers-e2e:1".into())
        );
        assert_eq!(data[4].value, Value::Text("web-7d9f".into()));
        assert_eq!(data[7].name, "pod_sandbox");
        assert_eq!(data[7].value, Value::Boolean(false));
    }
}
