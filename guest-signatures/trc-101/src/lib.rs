//! TRC-101 "Process standard input/output over socket detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/stdio_over_socket.go`).
//!
//! One finding when a standard stream (fd 0, 1 or 2) becomes an internet
//! socket: a `security_socket_connect` whose `sockfd`, or a `socket_dup`
//! whose `newfd`, is 0, 1 or 2, with an `AF_INET`/`AF_INET6` `remote_addr`
//! whose port is neither "" nor "0". The finding's data is Tracee's:
//! `File descriptor` (the number), `IP address` and `Port` (text, as in the
//! address). Errors as in Tracee: the descriptor missing or not an
//! integer; for a standard stream, `remote_addr` missing, not an address,
//! without family, port or IP.
//!
//! Only the descriptor crosses into the sandbox with every event;
//! `remote_addr` is fetched (`read-field`) for the rare standard stream.

use sigbox_sdk::{
    Event, EventSelector, Field, Finding, Metadata, Properties, Signature, SockAddr, Value,
};

/// An event this signature selects (its descriptor argument: `sockfd`).
const SECURITY_SOCKET_CONNECT: &str = "security_socket_connect";

/// An event this signature selects (its descriptor argument: `newfd`).
const SOCKET_DUP: &str = "socket_dup";

/// The address both events carry.
const REMOTE_ADDR: &str = "remote_addr";

/// Ports Tracee does not report: none, or 0.
const LEGIT_PORTS: [&str; 2] = ["", "0"];

/// The TRC-101 signature. It keeps no state.
pub struct StdioOverSocket;

/// The descriptor that became a socket, by event.
fn descriptor(event: &Event) -> Result<i64, String> {
    match event.name() {
        SECURITY_SOCKET_CONNECT => event.int("sockfd"),
        SOCKET_DUP => event.int("newfd"),
        // Go's switch leaves sockfd 0 for any other event.
        _ => Ok(0),
    }
}

impl Signature for StdioOverSocket {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-101".into(),
            version: "2".into(),
            name: "Process standard input/output over socket detected".into(),
            event_name: "stdio_over_socket".into(),
            // Verbatim from the Go source.
            description: "A process has its standard input/output redirected to a socket. This behavior is the base of a Reverse Shell attack, which is when an interactive shell being invoked from a target machine back to the attacker's machine, giving it interactive control over the target. Adversaries may use a Reverse Shell to retain control over a compromised target while bypassing security measures like network firewalls.".into(),
            tags: vec![],
            properties: Properties {
                severity: 3,
                category: "execution".into(),
                technique: "Unix Shell".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--a9d4b653-6915-42af-98b2-5758c4ceee56".into(),
                external_id: "T1059.004".into(),
                extra: vec![],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_SOCKET_CONNECT).reading(&["sockfd"]),
            EventSelector::new(SOCKET_DUP).reading(&["newfd"]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(StdioOverSocket)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let fd = descriptor(event)?;
        if !(0..=2).contains(&fd) {
            return Ok(vec![]);
        }
        let addr = SockAddr::from_value(REMOTE_ADDR, &event.read(REMOTE_ADDR))
            .map_err(|error| format!("event {}: {error}", event.name()))?;
        if !addr.is_internet()? {
            return Ok(vec![]);
        }
        let port = addr.port()?;
        if LEGIT_PORTS.contains(&port) {
            return Ok(vec![]);
        }
        let ip = addr.ip()?;
        Ok(vec![Finding {
            data: vec![
                Field {
                    name: "File descriptor".into(),
                    value: Value::Signed(fd),
                },
                Field {
                    name: "IP address".into(),
                    value: Value::Text(ip.into()),
                },
                Field {
                    name: "Port".into(),
                    value: Value::Text(port.into()),
                },
            ],
        }])
    }
}

sigbox_sdk::export_signature!(StdioOverSocket);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{OriginFilter, TestEvent};

    const TRACEE_ADDR: &str = r#"{"sa_family":"AF_INET","sin_port":"53","sin_addr":"10.225.0.2"}"#;
    const NO_PORT_ADDR: &str = r#"{"sa_family":"AF_INET","sin_port":"0","sin_addr":""}"#;

    fn event(name: &str, fd_arg: &str, fd: Value, addr: Value) -> TestEvent {
        TestEvent::new(name)
            .with(fd_arg, fd)
            .with(REMOTE_ADDR, addr)
    }

    fn connect(fd: i64, addr: &str) -> TestEvent {
        event(
            SECURITY_SOCKET_CONNECT,
            "sockfd",
            Value::Signed(fd),
            Value::Json(addr.into()),
        )
    }

    fn dup(fd: i64, addr: &str) -> TestEvent {
        event(
            SOCKET_DUP,
            "newfd",
            Value::Signed(fd),
            Value::Json(addr.into()),
        )
    }

    fn run(event: TestEvent) -> Result<Vec<Finding>, String> {
        StdioOverSocket::new(&[]).unwrap().on_event(&event.event())
    }

    fn finding(fd: i64, ip: &str, port: &str) -> Result<Vec<Finding>, String> {
        let field = |name: &str, value| Field {
            name: name.into(),
            value,
        };
        Ok(vec![Finding {
            data: vec![
                field("File descriptor", Value::Signed(fd)),
                field("IP address", Value::Text(ip.into())),
                field("Port", Value::Text(port.into())),
            ],
        }])
    }

    // Tracee v0.24.1, signatures/golang/stdio_over_socket_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        // "should trigger detection - security_socket_connect" and "- socket_dup".
        assert_eq!(run(connect(0, TRACEE_ADDR)), finding(0, "10.225.0.2", "53"));
        assert_eq!(run(dup(0, TRACEE_ADDR)), finding(0, "10.225.0.2", "53"));
        // "should not trigger detection - … wrong FD" and "- … legit port".
        assert_eq!(run(connect(3, TRACEE_ADDR)), Ok(vec![]));
        assert_eq!(run(connect(1, NO_PORT_ADDR)), Ok(vec![]));
        assert_eq!(run(dup(3, TRACEE_ADDR)), Ok(vec![]));
        assert_eq!(run(dup(1, NO_PORT_ADDR)), Ok(vec![]));
    }

    #[test]
    fn edge_cases() {
        let inet6 = r#"{"sa_family":"AF_INET6","sin6_port":"4444","sin6_flowinfo":"0","sin6_addr":"2001:db8::1","sin6_scopeid":"0"}"#;
        assert_eq!(run(dup(2, inet6)), finding(2, "2001:db8::1", "4444"));
        let empty_port = r#"{"sa_family":"AF_INET","sin_port":"","sin_addr":"10.0.0.1"}"#;
        assert_eq!(run(dup(1, empty_port)), Ok(vec![]));
        // A Unix socket on stdout is not a reverse shell for Tracee.
        let unix = r#"{"sa_family":"AF_UNIX","sun_path":"/run/x.sock"}"#;
        assert_eq!(run(dup(1, unix)), Ok(vec![]));
        // Other descriptors never read remote_addr.
        let odd_addr = event(
            SOCKET_DUP,
            "newfd",
            Value::Signed(-1),
            Value::Text("x".into()),
        );
        assert_eq!(run(odd_addr), Ok(vec![]));
        let unsigned = event(
            SECURITY_SOCKET_CONNECT,
            "sockfd",
            Value::Unsigned(2),
            Value::Json(TRACEE_ADDR.into()),
        );
        assert_eq!(run(unsigned), finding(2, "10.225.0.2", "53"));
    }

    #[test]
    fn odd_input_is_an_error() {
        let no_fd = event(
            SECURITY_SOCKET_CONNECT,
            "sockfd",
            Value::None,
            Value::Json(TRACEE_ADDR.into()),
        );
        assert!(run(no_fd).unwrap_err().contains("sockfd"));
        let text_fd = event(
            SOCKET_DUP,
            "newfd",
            Value::Text("0".into()),
            Value::Json(TRACEE_ADDR.into()),
        );
        assert!(run(text_fd).unwrap_err().contains("newfd"));
        for addr in [Value::None, Value::Text(TRACEE_ADDR.into())] {
            let error = run(event(SOCKET_DUP, "newfd", Value::Signed(0), addr)).unwrap_err();
            assert!(error.contains("remote_addr"), "{error}");
        }
        for (addr, error) in [
            (r#"{"sin_port":"53"}"#, "family not found"),
            (
                r#"{"sa_family":"AF_INET","sin_addr":"10.0.0.1"}"#,
                "port not found",
            ),
            (r#"{"sa_family":"AF_INET","sin_port":"53"}"#, "ip not found"),
        ] {
            assert_eq!(run(connect(0, addr)), Err(format!("{error} in address")));
        }
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = StdioOverSocket::metadata();
        assert_eq!(
            (metadata.id.as_str(), metadata.version.as_str()),
            ("TRC-101", "2")
        );
        assert_eq!(
            metadata.name,
            "Process standard input/output over socket detected"
        );
        assert_eq!(metadata.event_name, "stdio_over_socket");
        assert!(metadata.description.ends_with("like network firewalls."));
        assert_eq!(metadata.properties.technique, "Unix Shell");
        assert_eq!(metadata.properties.external_id, "T1059.004");
    }

    #[test]
    fn selects_both_events_reading_only_the_descriptor() {
        assert_eq!(
            StdioOverSocket::selected_events(),
            vec![
                EventSelector {
                    name: SECURITY_SOCKET_CONNECT.into(),
                    origin: OriginFilter::Any,
                    filters: vec![],
                    fields: vec!["sockfd".into()],
                },
                EventSelector {
                    name: SOCKET_DUP.into(),
                    origin: OriginFilter::Any,
                    filters: vec![],
                    fields: vec!["newfd".into()],
                }
            ]
        );
    }
}
