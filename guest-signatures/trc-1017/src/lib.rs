//! TRC-1017 "Kernel module loading detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/kernel_module_loading.go`).
//!
//! One finding (no data) for every `module_load`: it reads no argument.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The event this signature selects.
const MODULE_LOAD: &str = "module_load";

/// The TRC-1017 signature. It keeps no state.
pub struct KernelModuleLoading;

impl Signature for KernelModuleLoading {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1017".into(),
            version: "1".into(),
            name: "Kernel module loading detected".into(),
            event_name: "kernel_module_loading".into(),
            // Verbatim from the Go source.
            description: "Loading of a kernel module was detected. Kernel modules are binaries meant to run in the kernel. Adversaries may try and load kernel modules to extend their capabilities and avoid detection by running in the kernel and not user space.".into(),
            tags: vec![],
            properties: Properties {
                severity: 2,
                category: "persistence".into(),
                technique: "Kernel Modules and Extensions".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--a1b52199-c8c5-438a-9ded-656f1d0888c6".into(),
                external_id: "T1547.006".into(),
                extra: vec![],
            },
        }
    }

    /// No field crosses into the sandbox: the event itself is the detection.
    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new(MODULE_LOAD)]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(KernelModuleLoading)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if event.name() == MODULE_LOAD {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(KernelModuleLoading);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{OriginFilter, TestEvent};

    // Tracee v0.24.1, signatures/golang/kernel_module_loading_test.go:
    // "should trigger detection - module_load", an event with no arguments.
    #[test]
    fn tracee_v0_24_1_cases() {
        let event = TestEvent::new(MODULE_LOAD);
        assert_eq!(
            KernelModuleLoading::new(&[])
                .unwrap()
                .on_event(&event.event()),
            Ok(vec![Finding { data: vec![] }])
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = KernelModuleLoading::metadata();
        assert_eq!(
            (metadata.id.as_str(), metadata.version.as_str()),
            ("TRC-1017", "1")
        );
        assert_eq!(metadata.name, "Kernel module loading detected");
        assert_eq!(metadata.event_name, "kernel_module_loading");
        assert_eq!(metadata.properties.severity, 2);
        assert_eq!(metadata.properties.category, "persistence");
        assert_eq!(metadata.properties.external_id, "T1547.006");
    }

    #[test]
    fn selects_every_module_load_reading_nothing() {
        assert_eq!(
            KernelModuleLoading::selected_events(),
            vec![EventSelector {
                name: MODULE_LOAD.into(),
                origin: OriginFilter::Any,
                filters: vec![],
                fields: vec![],
            }]
        );
    }
}
