//! HOSTILE-ESCAPE: a test-only hostile signature that tries, on every event,
//! to reach outside its sandbox, and reports what happened. It selects
//! `sched_process_exec`.
//!
//! It returns one finding per event whose data (all text) names each attempt
//! and its outcome:
//!
//! | Field           | Attempt                                                  | Sandboxed outcome |
//! |-----------------|----------------------------------------------------------|-------------------|
//! | `read_passwd`   | `std::fs::read("/etc/passwd")`                           | `denied: <error>` |
//! | `tcp_local`     | a TCP connection to 127.0.0.1:22 (`wasi:sockets/tcp`)    | `denied: <error>` |
//! | `tcp_remote`    | a TCP connection to 1.1.1.1:53 (`wasi:sockets/tcp`)      | `denied: <error>` |
//! | `dns`           | resolving `localhost` (`wasi:sockets/ip-name-lookup`)    | `denied: <error>` |
//! | `env_count`     | `std::env::vars_os().count()`                            | `0`               |
//! | `home`          | `std::env::var("HOME")`                                  | `none`            |
//! | `args_count`    | `std::env::args_os().count()`                            | `0`               |
//! | `read_dir_root` | `std::fs::read_dir("/")`                                 | `denied: <error>` |
//!
//! A success is reported as `ALLOWED: <what it got>` (counts as the bare
//! number, `HOME` as `ALLOWED: <value>`). Outcomes are honest: a connection or
//! lookup that fails for a reason only the network or a resolver can give
//! (refused, reset, timed out, unreachable, name not found) means the attempt
//! left the sandbox, so it is reported as `ALLOWED: reached the network: <error>`,
//! not as denied. Socket errors are WASI error-code names, e.g.
//! `denied: access-denied`; a lookup wasmtime does not allow fails with
//! `denied: permanent-resolver-failure` (its code for that case).
//!
//! The network attempts use the WASI 0.2 socket interfaces directly (what
//! `std::net` does on `wasm32-wasip2`), because `std::net` cannot link against
//! Debian's wasi-libc, a WASI 0.1 build without sockets.

use std::fmt::Display;

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};
use wasi::sockets::network::{ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress};

/// The signature. It keeps no state.
pub struct HostileEscape;

/// `ALLOWED: <what>`: the attempt succeeded.
pub fn allowed(what: impl Display) -> String {
    format!("ALLOWED: {what}")
}

/// `denied: <error>`: the sandbox refused the attempt.
pub fn denied(error: impl Display) -> String {
    format!("denied: {error}")
}

/// `ALLOWED: reached the network: <error>`: the attempt failed, but only after
/// leaving the sandbox.
pub fn reached(error: impl Display) -> String {
    allowed(format_args!("reached the network: {error}"))
}

/// `ALLOWED: <describe(value)>` for a success, `denied: <error>` for a failure.
pub fn outcome<T, E: Display>(result: Result<T, E>, describe: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => allowed(describe(value)),
        Err(error) => denied(error),
    }
}

/// Whether a failed socket or lookup operation got as far as the network or a
/// resolver. `permanent-resolver-failure` is not such a failure: it is the
/// code wasmtime's WASI answers a lookup with when lookups are not allowed
/// (its real lookup failures are all `name-unresolvable`).
pub fn reached_network(error: ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::Timeout
            | ErrorCode::RemoteUnreachable
            | ErrorCode::ConnectionRefused
            | ErrorCode::ConnectionReset
            | ErrorCode::ConnectionAborted
            | ErrorCode::NameUnresolvable
            | ErrorCode::TemporaryResolverFailure
    )
}

/// The outcome of a socket operation: what it got, or its error classified.
pub fn socket_outcome(result: Result<String, ErrorCode>) -> String {
    match result {
        Ok(what) => allowed(what),
        Err(error) if reached_network(error) => reached(error.name()),
        Err(error) => denied(error.name()),
    }
}

/// The outcome of looking up `HOME`.
pub fn home_outcome(result: Result<String, std::env::VarError>) -> String {
    match result {
        Ok(home) => allowed(home),
        Err(std::env::VarError::NotPresent) => "none".into(),
        Err(std::env::VarError::NotUnicode(home)) => allowed(format_args!("{home:?}")),
    }
}

/// An IPv4 address as text.
fn ipv4((a, b, c, d): (u8, u8, u8, u8)) -> String {
    format!("{a}.{b}.{c}.{d}")
}

/// Connects to `address:port` over TCP, as `TcpStream::connect` does.
fn connect(address: (u8, u8, u8, u8), port: u16) -> Result<String, ErrorCode> {
    use wasi::sockets::network::Ipv4SocketAddress;
    let network = wasi::sockets::instance_network::instance_network();
    let socket = wasi::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)?;
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address });
    socket.start_connect(&network, remote)?;
    let ready = socket.subscribe();
    loop {
        match socket.finish_connect() {
            Ok(_streams) => return Ok(format!("connected to {}:{port}", ipv4(address))),
            Err(ErrorCode::WouldBlock) => ready.block(),
            Err(error) => return Err(error),
        }
    }
}

/// Resolves `name`, as `ToSocketAddrs` does.
fn resolve(name: &str) -> Result<String, ErrorCode> {
    let network = wasi::sockets::instance_network::instance_network();
    let stream = wasi::sockets::ip_name_lookup::resolve_addresses(&network, name)?;
    let ready = stream.subscribe();
    let mut addresses = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(IpAddress::Ipv4(address))) => addresses.push(ipv4(address)),
            Ok(Some(IpAddress::Ipv6(address))) => addresses.push(format!("{address:x?}")),
            Ok(None) => return Ok(format!("resolved {name} to [{}]", addresses.join(", "))),
            Err(ErrorCode::WouldBlock) => ready.block(),
            Err(error) => return Err(error),
        }
    }
}

fn text(name: &str, value: String) -> Field {
    Field {
        name: name.into(),
        value: Value::Text(value),
    }
}

/// Makes every attempt, in the order of the table above.
fn attempt_everything() -> Vec<Field> {
    vec![
        text(
            "read_passwd",
            outcome(std::fs::read("/etc/passwd"), |bytes| {
                format!("{} bytes", bytes.len())
            }),
        ),
        text("tcp_local", socket_outcome(connect((127, 0, 0, 1), 22))),
        text("tcp_remote", socket_outcome(connect((1, 1, 1, 1), 53))),
        text("dns", socket_outcome(resolve("localhost"))),
        text("env_count", std::env::vars_os().count().to_string()),
        text("home", home_outcome(std::env::var("HOME"))),
        text("args_count", std::env::args_os().count().to_string()),
        text(
            "read_dir_root",
            outcome(std::fs::read_dir("/"), |entries| {
                format!("{} entries", entries.count())
            }),
        ),
    ]
}

impl Signature for HostileEscape {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-ESCAPE".into(),
            version: "1".into(),
            name: "Sandbox escape attempts (hostile test)".into(),
            event_name: "hostile_escape".into(),
            description: "Tries files, sockets, DNS, environment and arguments on every event \
                and reports each outcome. For sandbox tests."
                .into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(HostileEscape)
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding {
            data: attempt_everything(),
        }])
    }
}

sigbox_sdk::export_signature!(HostileEscape);

#[cfg(test)]
mod tests {
    // Only the reporting is tested: natively the WASI imports are stubs, and
    // the file and environment attempts would read this machine for real.
    use super::*;

    #[test]
    fn successes_and_failures() {
        assert_eq!(
            outcome(Ok::<_, String>(3), |n| format!("{n} bytes")),
            "ALLOWED: 3 bytes"
        );
        let error = std::io::Error::new(std::io::ErrorKind::NotFound, "no preopen");
        assert_eq!(
            outcome(Err::<(), _>(error), |()| String::new()),
            "denied: no preopen"
        );
    }

    #[test]
    fn sockets() {
        assert_eq!(
            socket_outcome(Ok("connected to 127.0.0.1:22".into())),
            "ALLOWED: connected to 127.0.0.1:22"
        );
        assert_eq!(
            socket_outcome(Err(ErrorCode::AccessDenied)),
            "denied: access-denied"
        );
        assert_eq!(
            socket_outcome(Err(ErrorCode::NotSupported)),
            "denied: not-supported"
        );
        assert_eq!(
            socket_outcome(Err(ErrorCode::ConnectionRefused)),
            "ALLOWED: reached the network: connection-refused"
        );
        assert_eq!(
            socket_outcome(Err(ErrorCode::NameUnresolvable)),
            "ALLOWED: reached the network: name-unresolvable"
        );
        // wasmtime's answer to a lookup when lookups are not allowed.
        assert_eq!(
            socket_outcome(Err(ErrorCode::PermanentResolverFailure)),
            "denied: permanent-resolver-failure"
        );
    }

    #[test]
    fn home() {
        assert_eq!(home_outcome(Err(std::env::VarError::NotPresent)), "none");
        assert_eq!(home_outcome(Ok("/root".into())), "ALLOWED: /root");
    }

    #[test]
    fn addresses() {
        assert_eq!(ipv4((1, 1, 1, 1)), "1.1.1.1");
    }
}
