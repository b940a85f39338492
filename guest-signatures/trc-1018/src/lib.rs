//! TRC-1018 "K8s TLS certificate theft detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/kubernetes_certificate_theft_attempt.go`).
//!
//! From any origin, one finding (no data) when a path under
//! `/etc/kubernetes/pki/` is opened for reading (`security_file_open` with
//! `O_RDONLY` or `O_RDWR` in `flags`, then its `pathname`) by a process whose
//! name is not `kube-apiserver`, `kubelet`, `kube-controller` or `etcd`, or is
//! renamed away (`old_path` of `security_inode_rename`, whoever renames it).
//! As in Tracee the process name is tested first, then `flags`, and `pathname`
//! only for a read; a missing or mistyped argument that is read is an error.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, Properties, Signature, is_file_read,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// An event this signature selects.
const SECURITY_INODE_RENAME: &str = "security_inode_rename";

/// The Kubernetes components that read their certificates (`kube-controller`
/// is `kube-controller-manager` cut to the kernel's 15-byte comm).
const LEGIT_PROCESSES: [&str; 4] = ["kube-apiserver", "kubelet", "kube-controller", "etcd"];

/// Where kubeadm keeps the cluster's TLS certificates and keys.
const K8S_CERTIFICATES_DIR: &str = "/etc/kubernetes/pki/";

/// The TRC-1018 signature. It keeps no state.
pub struct KubernetesCertificateTheftAttempt;

/// Tracee's condition on the path read or renamed away.
fn is_k8s_certificate(path: &str) -> bool {
    path.starts_with(K8S_CERTIFICATES_DIR)
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for KubernetesCertificateTheftAttempt {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1018".into(),
            version: "1".into(),
            name: "K8s TLS certificate theft detected".into(),
            event_name: "k8s_cert_theft".into(),
            // Verbatim from the Go source.
            description: "Theft of Kubernetes TLS certificates was detected. TLS certificates are used to establish trust between systems. The Kubernetes certificate is used to to enable secure communication between Kubernetes components, such as kubelet scheduler controller and API Server. An adversary may steal a Kubernetes certificate on a compromised system to impersonate Kubernetes components within the cluster.".into(),
            tags: vec![],
            properties: Properties {
                severity: 3,
                category: "credential-access".into(),
                technique: "Steal Application Access Token".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--890c9858-598c-401d-a4d5-c67ebcdd703a".into(),
                external_id: "T1528".into(),
                extra: vec![],
            },
        }
    }

    /// Read-opens under the certificates directory and renames from it, any
    /// origin; the process allow list (a "not in" no filter can say) runs in
    /// the guest.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["process-name", "flags", "pathname"])
                .access_mode("flags", Access::Read)
                .prefix("pathname", &[K8S_CERTIFICATES_DIR]),
            EventSelector::new(SECURITY_INODE_RENAME)
                .reading(&["old_path"])
                .prefix("old_path", &[K8S_CERTIFICATES_DIR]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(KubernetesCertificateTheftAttempt)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let matched = match event.name() {
            SECURITY_FILE_OPEN => {
                if LEGIT_PROCESSES.contains(&event.text("process-name")?) {
                    return Ok(vec![]);
                }
                is_file_read(event.int("flags")?) && is_k8s_certificate(event.text("pathname")?)
            }
            SECURITY_INODE_RENAME => is_k8s_certificate(event.text("old_path")?),
            _ => false,
        };
        Ok(findings_if(matched))
    }
}

sigbox_sdk::export_signature!(KubernetesCertificateTheftAttempt);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-1018 must make of an event.
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

    fn open_by(process_name: &str, pathname: Value, flags: Value) -> TestEvent {
        TestEvent::new(SECURITY_FILE_OPEN)
            .text("process-name", process_name)
            .with("pathname", pathname)
            .with("flags", flags)
    }

    fn rename(old_path: Value, new_path: Value) -> TestEvent {
        TestEvent::new(SECURITY_INODE_RENAME)
            .with("old_path", old_path)
            .with("new_path", new_path)
    }

    fn check(case: &str, event: TestEvent, expected: Expect) {
        let outcome = KubernetesCertificateTheftAttempt::new(&[])
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

    // Tracee v0.24.1, signatures/golang/kubernetes_certificate_theft_attempt_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection - security_file_open",
            open_by(
                "malware",
                text("/etc/kubernetes/pki/ca.crt"),
                flags(O_RDONLY),
            ),
            Fires,
        );
        check(
            "should trigger detection - security_inode_rename",
            rename(text("/etc/kubernetes/pki/ca.crt"), Value::None),
            Fires,
        );
        check(
            "should not trigger detection - security_file_open wrong open flags",
            open_by("test", text("/etc/kubernetes/pki/ca.crt"), flags(O_WRONLY)),
            Silent,
        );
        check(
            "should not trigger detection - security_file_open wrong path",
            open_by("test", text("/tmp/ca.crt"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "should not trigger detection - security_file_open legit proc",
            open_by(
                "kube-apiserver",
                text("/etc/kubernetes/pki/ca.crt"),
                flags(O_RDONLY),
            ),
            Silent,
        );
        check(
            "should not trigger detection - security_inode_rename wrong path",
            rename(text("/tmp/ca.crt"), Value::None),
            Silent,
        );
    }

    #[test]
    fn edge_cases() {
        check(
            "a key in a subdirectory, read-write",
            open_by(
                "cat",
                text("/etc/kubernetes/pki/etcd/server.key"),
                flags(O_RDWR),
            ),
            Fires,
        );
        check(
            "etcd may read its certificates",
            open_by(
                "etcd",
                text("/etc/kubernetes/pki/etcd/server.key"),
                flags(O_RDONLY),
            ),
            Silent,
        );
        check(
            "kube-controller (the 15-byte comm of kube-controller-manager)",
            open_by(
                "kube-controller",
                text("/etc/kubernetes/pki/sa.key"),
                flags(O_RDONLY),
            ),
            Silent,
        );
        check(
            "an allowed name is exact",
            open_by(
                "kubelet2",
                text("/etc/kubernetes/pki/sa.key"),
                flags(O_RDONLY),
            ),
            Fires,
        );
        check(
            "the directory itself has no trailing slash",
            open_by("ls", text("/etc/kubernetes/pki"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "a rename by kubelet still counts (Tracee checks names on opens only)",
            rename(text("/etc/kubernetes/pki/apiserver.key"), text("/tmp/x")),
            Fires,
        );
        check(
            "a rename onto the directory is not a theft",
            rename(text("/tmp/ca.crt"), text("/etc/kubernetes/pki/ca.crt")),
            Silent,
        );
        check(
            "an allowed process never has its flags read",
            open_by("kubelet", text("/etc/kubernetes/pki/ca.crt"), Value::None),
            Silent,
        );
        check(
            "a write-open never reads pathname",
            open_by("cat", Value::None, flags(O_WRONLY)),
            Silent,
        );
    }

    #[test]
    fn odd_input_is_an_error_naming_the_argument() {
        check(
            "no flags",
            open_by("cat", text("/etc/kubernetes/pki/ca.crt"), Value::None),
            ErrorNaming("flags"),
        );
        check(
            "a read-open without pathname",
            open_by("cat", Value::None, flags(O_RDONLY)),
            ErrorNaming("pathname"),
        );
        check(
            "no old_path",
            rename(Value::None, text("/tmp/x")),
            ErrorNaming("old_path"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = KubernetesCertificateTheftAttempt::metadata();
        assert_eq!(metadata.id, "TRC-1018");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "K8s TLS certificate theft detected");
        assert_eq!(metadata.event_name, "k8s_cert_theft");
        assert!(
            metadata
                .description
                .starts_with("Theft of Kubernetes TLS certificates was")
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 3,
                category: "credential-access".into(),
                technique: "Steal Application Access Token".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--890c9858-598c-401d-a4d5-c67ebcdd703a".into(),
                external_id: "T1528".into(),
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
            KubernetesCertificateTheftAttempt::selected_events(),
            vec![
                EventSelector {
                    name: "security_file_open".into(),
                    origin: OriginFilter::Any,
                    filters: vec![
                        filter("flags", Test::AccessMode(Access::Read)),
                        filter(
                            "pathname",
                            Test::Prefix(vec!["/etc/kubernetes/pki/".into()])
                        )
                    ],
                    fields: vec!["process-name".into(), "flags".into(), "pathname".into()],
                },
                EventSelector {
                    name: "security_inode_rename".into(),
                    origin: OriginFilter::Any,
                    filters: vec![filter(
                        "old_path",
                        Test::Prefix(vec!["/etc/kubernetes/pki/".into()])
                    )],
                    fields: vec!["old_path".into()],
                },
            ]
        );
    }
}
