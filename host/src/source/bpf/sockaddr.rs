//! A raw `struct sockaddr` → Tracee v0.24.1's `SockAddr` value: the map of
//! strings its decoder builds (`readSockaddrFromBuff` in
//! `pkg/bufferdecoder/eventsreader.go`), as JSON text with the keys sorted,
//! as Go writes a map.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
/// `sizeof(sun_path)`.
const SUN_PATH_MAX: usize = 108;

/// Tracee's map for the address in `bytes` (missing bytes read as zero).
pub(crate) fn tracee_sockaddr(bytes: &[u8]) -> String {
    let at = |offset: usize| bytes.get(offset).copied().unwrap_or(0);
    let be16 = |offset: usize| u16::from_be_bytes([at(offset), at(offset + 1)]);
    let be32 = |offset: usize| {
        u32::from_be_bytes([at(offset), at(offset + 1), at(offset + 2), at(offset + 3)])
    };
    let family = u16::from_le_bytes([at(0), at(1)]);
    // Sorted here: serde_json keeps insertion order in this workspace.
    let mut map = BTreeMap::new();
    let mut put = |key: &'static str, value: String| {
        map.insert(key, value);
    };
    put("sa_family", family_name(family).to_owned());
    match family {
        AF_UNIX => {
            let path: Vec<u8> = (0..SUN_PATH_MAX).map(|i| at(2 + i)).collect();
            put("sun_path", sun_path(&path));
        }
        AF_INET => {
            put("sin_port", be16(2).to_string());
            put("sin_addr", Ipv4Addr::from(be32(4)).to_string());
        }
        AF_INET6 => {
            put("sin6_port", be16(2).to_string());
            put("sin6_flowinfo", be32(4).to_string());
            let addr: [u8; 16] = std::array::from_fn(|i| at(8 + i));
            put("sin6_addr", go_ipv6(Ipv6Addr::from(addr)));
            // Tracee decodes the scope id big-endian too.
            put("sin6_scopeid", be32(24).to_string());
        }
        _ => {}
    }
    serde_json::to_string(&map).unwrap_or_default()
}

/// `parsers.ParseSocketDomainArgument` for the families sigbox sends.
fn family_name(family: u16) -> &'static str {
    match family {
        AF_UNIX => "AF_UNIX",
        AF_INET => "AF_INET",
        AF_INET6 => "AF_INET6",
        _ => "AF_UNSPEC",
    }
}

/// `readSunPathFromBuffer`: up to the first NUL; an abstract address (a
/// leading NUL) reads `@` then the name up to its next NUL; a lone `@` is
/// the empty string.
fn sun_path(path: &[u8]) -> String {
    let (prefix, rest) = match path.split_first() {
        Some((0, rest)) => ("@", rest),
        _ => ("", path),
    };
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let text = format!("{prefix}{}", String::from_utf8_lossy(&rest[..end]));
    if text == "@" { String::new() } else { text }
}

/// Go's `net.IP.String`: an IPv4-mapped address prints as IPv4.
fn go_ipv6(addr: Ipv6Addr) -> String {
    match addr.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(port: u16, addr: [u8; 4]) -> Vec<u8> {
        let mut bytes = AF_INET.to_le_bytes().to_vec();
        bytes.extend_from_slice(&port.to_be_bytes());
        bytes.extend_from_slice(&addr);
        bytes.extend_from_slice(&[0; 8]);
        bytes
    }

    /// Tracee's own test vectors (`eventsreader_test.go`).
    #[test]
    fn inet_and_unix_read_as_tracee_decodes_them() {
        assert_eq!(
            tracee_sockaddr(&inet(65535, [255, 255, 255, 255])),
            r#"{"sa_family":"AF_INET","sin_addr":"255.255.255.255","sin_port":"65535"}"#
        );
        let mut unix = AF_UNIX.to_le_bytes().to_vec();
        unix.extend_from_slice(b"/tmp/socket");
        unix.resize(110, 0);
        assert_eq!(
            tracee_sockaddr(&unix),
            r#"{"sa_family":"AF_UNIX","sun_path":"/tmp/socket"}"#
        );
    }

    #[test]
    fn inet6_has_five_keys_and_go_address_text() {
        let mut bytes = AF_INET6.to_le_bytes().to_vec();
        bytes.extend_from_slice(&8080u16.to_be_bytes());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            tracee_sockaddr(&bytes),
            r#"{"sa_family":"AF_INET6","sin6_addr":"::1","sin6_flowinfo":"0","sin6_port":"8080","sin6_scopeid":"0"}"#
        );
        bytes[8..24].copy_from_slice(&Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().octets());
        assert!(tracee_sockaddr(&bytes).contains(r#""sin6_addr":"10.0.0.1""#));
    }

    #[test]
    fn abstract_and_unbound_unix_addresses() {
        let mut bytes = AF_UNIX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"\0hidden\0x");
        assert_eq!(
            tracee_sockaddr(&bytes),
            r#"{"sa_family":"AF_UNIX","sun_path":"@hidden"}"#
        );
        assert_eq!(
            tracee_sockaddr(&AF_UNIX.to_le_bytes()),
            r#"{"sa_family":"AF_UNIX","sun_path":""}"#
        );
        // A unix socket with no address of its own (socket_dup): all zero.
        assert_eq!(tracee_sockaddr(&[0; 110]), r#"{"sa_family":"AF_UNSPEC"}"#);
    }
}
