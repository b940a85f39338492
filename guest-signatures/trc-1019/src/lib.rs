//! TRC-1019 "Docker socket abuse detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/docker_abuse.go`).
//!
//! In a container, one finding (no data) when a path ending `docker.sock` is
//! opened for writing (`security_file_open`, `O_WRONLY` or `O_RDWR`) or
//! connected to (`security_socket_connect` with an `AF_UNIX` `remote_addr`
//! whose `sun_path` ends so). Errors as in Tracee: an open without string
//! `pathname` or integer `flags` (read in that order), a connect whose
//! `remote_addr` is missing, not an address, without family, or a Unix
//! address without `sun_path`.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, OriginFilter, Properties, Signature,
    is_file_write,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// An event this signature selects.
const SECURITY_SOCKET_CONNECT: &str = "security_socket_connect";

/// The end of the Docker API socket's path (Tracee's `dockerSock`).
const DOCKER_SOCK: &str = "docker.sock";

/// The TRC-1019 signature. It keeps no state.
pub struct DockerAbuse;

/// The path the event writes or connects to; "" when it does neither.
fn touched_path(event: &Event) -> Result<String, String> {
    match event.name() {
        SECURITY_FILE_OPEN => {
            let pathname = event.text("pathname")?;
            let flags = event.int("flags")?;
            Ok(if is_file_write(flags) {
                pathname.to_owned()
            } else {
                String::new()
            })
        }
        SECURITY_SOCKET_CONNECT => {
            let addr = event.sockaddr("remote_addr")?;
            if !addr.is_unix()? {
                return Ok(String::new());
            }
            Ok(addr.path()?.to_owned())
        }
        _ => Ok(String::new()),
    }
}

impl Signature for DockerAbuse {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1019".into(),
            version: "1".into(),
            name: "Docker socket abuse detected".into(),
            event_name: "docker_abuse".into(),
            // Verbatim from the Go source.
            description: "An attempt to abuse the Docker UNIX socket inside a container was detected. docker.sock is the UNIX socket that Docker uses as the entry point to the Docker API. Adversaries may attempt to abuse this socket to compromise the system.".into(),
            tags: vec![],
            properties: Properties {
                severity: 2,
                category: "privilege-escalation".into(),
                technique: "Exploitation for Privilege Escalation".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--b21c3b2d-02e6-45b1-980b-e69051040839".into(),
                external_id: "T1068".into(),
                extra: vec![],
            },
        }
    }

    /// Write-opens in containers of a path ending `docker.sock` (any name
    /// ending so: the kernel can test only the access mode), and connects
    /// in containers (an address is no text: the guest tests it).
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .origin(OriginFilter::Container)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Write)
                .suffix("pathname", &[DOCKER_SOCK]),
            EventSelector::new(SECURITY_SOCKET_CONNECT)
                .origin(OriginFilter::Container)
                .reading(&["remote_addr"]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(DockerAbuse)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if touched_path(event)?.ends_with(DOCKER_SOCK) {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(DockerAbuse);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, Test, TestEvent, Value};

    const O_RDONLY: i64 = 0;
    const O_WRONLY: i64 = 1;
    const O_RDWR: i64 = 2;

    fn open(pathname: Value, flags: Value) -> TestEvent {
        TestEvent::new(SECURITY_FILE_OPEN)
            .with("pathname", pathname)
            .with("flags", flags)
    }

    fn open_path(pathname: &str, flags: i64) -> TestEvent {
        open(Value::Text(pathname.into()), Value::Signed(flags))
    }

    fn connect(addr: Value) -> TestEvent {
        TestEvent::new(SECURITY_SOCKET_CONNECT).with("remote_addr", addr)
    }

    fn connect_to(addr: &str) -> TestEvent {
        connect(Value::Json(addr.into()))
    }

    fn run(event: TestEvent) -> Result<Vec<Finding>, String> {
        DockerAbuse::new(&[]).unwrap().on_event(&event.event())
    }

    fn fires() -> Result<Vec<Finding>, String> {
        Ok(vec![Finding { data: vec![] }])
    }

    // Tracee v0.24.1, signatures/golang/docker_abuse_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        assert_eq!(run(open_path("/var/run/docker.sock", O_WRONLY)), fires());
        assert_eq!(
            run(connect_to(
                r#"{"sa_family":"AF_UNIX","sun_path":"/var/run/docker.sock"}"#
            )),
            fires()
        );
        assert_eq!(run(open_path("/var/docker.socket", O_WRONLY)), Ok(vec![]));
        assert_eq!(run(open_path("/var/run/docker.sock", O_RDONLY)), Ok(vec![]));
        assert_eq!(
            run(connect_to(
                r#"{"sa_family":"AF_INET","sin_port":"53","sin_addr":"10.225.0.2"}"#
            )),
            Ok(vec![])
        );
    }

    #[test]
    fn edge_cases() {
        assert_eq!(run(open_path("/run/docker.sock", O_RDWR)), fires());
        // Tracee tests the end of the path only.
        assert_eq!(run(open_path("/tmp/not-docker.sock", O_WRONLY)), fires());
        assert_eq!(
            run(connect_to(
                r#"{"sa_family":"AF_UNIX","sun_path":"/run/containerd/containerd.sock"}"#
            )),
            Ok(vec![])
        );
        // An abstract socket: Tracee prints its leading NUL as '@'.
        assert_eq!(
            run(connect_to(
                r#"{"sa_family":"AF_UNIX","sun_path":"@docker.sock"}"#
            )),
            fires()
        );
        // Not a Unix address: sun_path is not looked at.
        assert_eq!(
            run(connect_to(
                r#"{"sa_family":"AF_INET6","sun_path":"docker.sock"}"#
            )),
            Ok(vec![])
        );
    }

    #[test]
    fn odd_input_is_an_error() {
        // pathname is read before flags, as in Tracee.
        let error = run(open(Value::None, Value::None)).unwrap_err();
        assert!(error.contains("pathname"), "{error}");
        let error = run(open(Value::Text("/x".into()), Value::None)).unwrap_err();
        assert!(error.contains("flags"), "{error}");
        for addr in [Value::None, Value::Text("/var/run/docker.sock".into())] {
            assert!(run(connect(addr)).unwrap_err().contains("remote_addr"));
        }
        assert_eq!(
            run(connect_to(r#"{"sun_path":"/var/run/docker.sock"}"#)),
            Err("family not found in address".into())
        );
        assert_eq!(
            run(connect_to(r#"{"sa_family":"AF_UNIX"}"#)),
            Err("path not found in address".into())
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = DockerAbuse::metadata();
        assert_eq!(
            (metadata.id.as_str(), metadata.version.as_str()),
            ("TRC-1019", "1")
        );
        assert_eq!(metadata.name, "Docker socket abuse detected");
        assert_eq!(metadata.event_name, "docker_abuse");
        assert_eq!(metadata.properties.severity, 2);
        assert_eq!(metadata.properties.external_id, "T1068");
    }

    #[test]
    fn selects_container_opens_and_connects() {
        assert_eq!(
            DockerAbuse::selected_events(),
            vec![
                EventSelector {
                    name: SECURITY_FILE_OPEN.into(),
                    origin: OriginFilter::Container,
                    filters: vec![
                        FieldFilter {
                            field: "flags".into(),
                            test: Test::AccessMode(Access::Write),
                        },
                        FieldFilter {
                            field: "pathname".into(),
                            test: Test::Suffix(vec!["docker.sock".into()]),
                        },
                    ],
                    fields: vec!["pathname".into(), "flags".into()],
                },
                EventSelector {
                    name: SECURITY_SOCKET_CONNECT.into(),
                    origin: OriginFilter::Container,
                    filters: vec![],
                    fields: vec!["remote_addr".into()],
                }
            ]
        );
    }
}
