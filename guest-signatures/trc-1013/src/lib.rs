//! TRC-1013 "Kubernetes API server connection detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/kubernetes_api_connection.go`).
//!
//! Stateful, per container (events of started containers with an id):
//! - a `sched_process_exec` whose `env` has an entry containing
//!   `KUBERNETES_SERVICE_HOST=` teaches the container's API server address
//!   (the text after the entry's first `=`, trimmed; an empty one teaches
//!   nothing). `env` comes only with `sigbox run --exec-env` (Tracee's
//!   `--output option:exec-env`); without it, as in Tracee when `env` is
//!   missing or not a list, nothing is learned and nothing is reported;
//! - a `security_socket_connect` from a container with a known address
//!   whose `remote_addr` is `AF_INET`/`AF_INET6` with that IP gives one
//!   finding, data `ip` (the address). Its errors are Tracee's: the address
//!   missing, not an address, without family or IP.
//!
//! Unlike Tracee's unbounded map, the memory is bounded: at most
//! [`MAX_CONTAINERS`] containers are remembered, the one taught longest ago
//! is forgotten first (each forgetting is counted and logged at powers of
//! two), and ids or addresses longer than [`MAX_TEXT_BYTES`] are not kept
//! (no IP address is that long, so such an address could never match). No
//! event a 0.2 signature can select says a container is gone, so a
//! container's entry stays until it is evicted; Tracee never drops it.

use std::collections::{BTreeMap, HashMap};

use sigbox_sdk::{
    Event, EventSelector, Field, Finding, Metadata, OriginFilter, Properties, Signature, Value,
};

/// An event this signature selects: it teaches the address.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

/// An event this signature selects: it may reach the address.
const SECURITY_SOCKET_CONNECT: &str = "security_socket_connect";

/// What marks the environment entry (Tracee tests `strings.Contains`).
const SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST=";

/// Containers whose API address is remembered at once.
pub const MAX_CONTAINERS: usize = 4096;

/// The longest container id and address kept, in bytes (a container id is
/// 64 characters, an IPv6 address at most 45).
pub const MAX_TEXT_BYTES: usize = 256;

/// The API server address of each container, with the oldest evicted
/// first once [`MAX_CONTAINERS`] are known.
#[derive(Debug, Default)]
pub struct ApiAddresses {
    /// Container id → (address, when it was taught).
    by_container: HashMap<String, (String, u64)>,
    /// When taught → container id: the first is the oldest.
    by_age: BTreeMap<u64, String>,
    /// Teachings so far (the clock of `by_age`).
    taught: u64,
    /// Containers forgotten to stay within the cap.
    evictions: u64,
}

impl ApiAddresses {
    /// Remembers `address` for `container`, replacing what it had; returns
    /// whether another container was forgotten to make room.
    pub fn learn(&mut self, container: &str, address: &str) -> bool {
        if container.len() > MAX_TEXT_BYTES {
            return false;
        }
        if address.len() > MAX_TEXT_BYTES {
            // It could never equal an IP: the same as remembering it.
            self.forget(container);
            return false;
        }
        self.forget(container);
        let evicted = self.by_container.len() >= MAX_CONTAINERS;
        if evicted && let Some((_, oldest)) = self.by_age.pop_first() {
            self.by_container.remove(&oldest);
            self.evictions += 1;
        }
        self.taught += 1;
        self.by_age.insert(self.taught, container.to_owned());
        self.by_container
            .insert(container.to_owned(), (address.to_owned(), self.taught));
        evicted
    }

    /// The address taught for `container`.
    pub fn get(&self, container: &str) -> Option<&str> {
        self.by_container
            .get(container)
            .map(|(address, _)| address.as_str())
    }

    /// Containers remembered.
    pub fn len(&self) -> usize {
        self.by_container.len()
    }

    /// Whether no container is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_container.is_empty()
    }

    /// Containers forgotten to stay within the cap, so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    fn forget(&mut self, container: &str) {
        if let Some((_, when)) = self.by_container.remove(container) {
            self.by_age.remove(&when);
        }
    }
}

/// Tracee's `getApiAddressFromEnvs`: the first entry containing
/// `KUBERNETES_SERVICE_HOST=`, after its first `=`, trimmed.
fn api_address_from_env(env: &[String]) -> &str {
    env.iter()
        .find(|entry| entry.contains(SERVICE_HOST))
        .and_then(|entry| entry.split_once('='))
        .map_or("", |(_, value)| value.trim())
}

/// The TRC-1013 signature: the addresses learned so far.
pub struct K8sApiConnection {
    addresses: ApiAddresses,
}

impl K8sApiConnection {
    /// Learns a container's address from an exec's environment.
    fn on_exec(&mut self, container: &str, event: &Event) {
        // Tracee returns nil when env is missing or not a list.
        let Ok(env) = event.texts("env") else {
            return;
        };
        let address = api_address_from_env(env);
        if !address.is_empty() && self.addresses.learn(container, address) {
            report_eviction(self.addresses.evictions());
        }
    }

    /// A finding when a connect reaches its container's address.
    fn on_connect(&self, container: &str, event: &Event) -> Result<Vec<Finding>, String> {
        let Some(api_address) = self.addresses.get(container) else {
            return Ok(vec![]);
        };
        let addr = event.sockaddr("remote_addr")?;
        if !addr.is_internet()? || addr.ip()? != api_address {
            return Ok(vec![]);
        }
        Ok(vec![Finding {
            data: vec![Field {
                name: "ip".into(),
                value: Value::Text(api_address.into()),
            }],
        }])
    }
}

/// Logs the count of containers forgotten, at 1, 2, 4, 8, … so a flood of
/// containers cannot flood the log.
fn report_eviction(evictions: u64) {
    if evictions.is_power_of_two() {
        #[cfg(target_arch = "wasm32")]
        sigbox_sdk::log(
            sigbox_sdk::LogLevel::Warn,
            &format!(
                "forgot the Kubernetes API address of {evictions} containers so far \
                 (at most {MAX_CONTAINERS} are remembered, the oldest goes first)"
            ),
        );
    }
}

impl Signature for K8sApiConnection {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1013".into(),
            version: "0.1.0".into(),
            name: "Kubernetes API server connection detected".into(),
            event_name: "k8s_api_connection".into(),
            // Verbatim from the Go source.
            description: "A connection to the kubernetes API server was detected. The K8S API server is the brain of your K8S cluster, adversaries may try and communicate with the K8S API server to gather information/credentials, or even run more containers and laterally expand their grip on your systems.".into(),
            tags: vec!["container".into()],
            // Tracee's properties are Severity and "MITRE ATT&CK" only; the
            // named ones stay empty.
            properties: Properties {
                severity: 1,
                category: String::new(),
                technique: String::new(),
                kubernetes_technique: String::new(),
                mitre_id: String::new(),
                external_id: String::new(),
                extra: vec![Field {
                    name: "MITRE ATT&CK".into(),
                    value: Value::Text("Discovery: Cloud Service Discovery".into()),
                }],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SCHED_PROCESS_EXEC)
                .origin(OriginFilter::Container)
                .reading(&["container-id", "env"]),
            EventSelector::new(SECURITY_SOCKET_CONNECT)
                .origin(OriginFilter::Container)
                .reading(&["container-id", "remote_addr"]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(K8sApiConnection {
            addresses: ApiAddresses::default(),
        })
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let container = event.text("container-id").unwrap_or_default();
        if container.is_empty() {
            return Ok(vec![]);
        }
        match event.name() {
            SCHED_PROCESS_EXEC => {
                self.on_exec(container, event);
                Ok(vec![])
            }
            SECURITY_SOCKET_CONNECT => self.on_connect(container, event),
            _ => Ok(vec![]),
        }
    }
}

sigbox_sdk::export_signature!(K8sApiConnection);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{Origin, TestEvent};

    /// The environment of Tracee's test exec.
    const TRACEE_ENV: [&str; 11] = [
        "CURL_CA_BUNDLE=/cacert.pem",
        "HOSTNAME=3c5f9dbcb5da",
        "CURL_RELEASE_TAG=curl-7_76_1",
        "CURL_GIT_REPO=https://github.com/curl/curl.git",
        "SHLVL=2",
        "HOME=/home/curl_user",
        "TERM=xterm",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PWD=/",
        "KUBERNETES_SERVICE_HOST=1.1.1.1",
        "CURL_VERSION=7_76_1",
    ];

    fn in_container(event: TestEvent) -> TestEvent {
        let mut event = event;
        event.context.origin = Origin::Container;
        event
    }

    fn exec(container: &str, env: Value) -> TestEvent {
        in_container(
            TestEvent::new(SCHED_PROCESS_EXEC)
                .text("container-id", container)
                .with("env", env),
        )
    }

    fn env(entries: &[&str]) -> Value {
        Value::TextList(entries.iter().map(|e| (*e).to_owned()).collect())
    }

    fn connect(container: &str, addr: Value) -> TestEvent {
        in_container(
            TestEvent::new(SECURITY_SOCKET_CONNECT)
                .text("container-id", container)
                .with("remote_addr", addr),
        )
    }

    fn inet(ip: &str) -> Value {
        Value::Json(format!(
            r#"{{"sa_family":"AF_INET","sin_port":"80","sin_addr":"{ip}"}}"#
        ))
    }

    fn finding(ip: &str) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding {
            data: vec![Field {
                name: "ip".into(),
                value: Value::Text(ip.into()),
            }],
        }])
    }

    /// Feeds `events` to one instance; the outcome of each.
    fn run(events: &[TestEvent]) -> Vec<Result<Vec<Finding>, String>> {
        let mut signature = K8sApiConnection::new(&[]).unwrap();
        events
            .iter()
            .map(|event| signature.on_event(&event.event()))
            .collect()
    }

    // Tracee v0.24.1, signatures/golang/kubernetes_api_connection_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        let outcomes = run(&[
            exec("0907ef86d7be", env(&TRACEE_ENV)),
            connect("0907ef86d7be", inet("1.1.1.1")),
        ]);
        assert_eq!(outcomes, vec![Ok(vec![]), finding("1.1.1.1")]);
        let outcomes = run(&[
            exec("0907ef86d7be", env(&TRACEE_ENV)),
            connect("0907ef86d7be", inet("169.254.169.254")),
        ]);
        assert_eq!(outcomes, vec![Ok(vec![]), Ok(vec![])]);
    }

    #[test]
    fn the_address_is_per_container_and_the_latest_taught() {
        let outcomes = run(&[
            exec("a", env(&["KUBERNETES_SERVICE_HOST=10.96.0.1"])),
            // Another container never taught one.
            connect("b", inet("10.96.0.1")),
            exec("a", env(&["KUBERNETES_SERVICE_HOST= 10.0.0.1 \t"])),
            connect("a", inet("10.96.0.1")),
            connect("a", inet("10.0.0.1")),
            // An exec without the variable teaches nothing: 10.0.0.1 stays.
            exec("a", env(&["HOME=/"])),
            connect("a", inet("10.0.0.1")),
        ]);
        assert_eq!(
            outcomes,
            vec![
                Ok(vec![]),
                Ok(vec![]),
                Ok(vec![]),
                Ok(vec![]),
                finding("10.0.0.1"),
                Ok(vec![]),
                finding("10.0.0.1"),
            ]
        );
    }

    #[test]
    fn the_environment_is_read_as_tracee_reads_it() {
        let taught = |entries: &[&str]| {
            api_address_from_env(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
                .to_owned()
        };
        assert_eq!(taught(&TRACEE_ENV), "1.1.1.1");
        // Contains, not starts with; the value is after the first '='.
        assert_eq!(
            taught(&["X=KUBERNETES_SERVICE_HOST=1.2.3.4"]),
            "KUBERNETES_SERVICE_HOST=1.2.3.4"
        );
        assert_eq!(taught(&["MY_KUBERNETES_SERVICE_HOST=1.2.3.4"]), "1.2.3.4");
        // The first entry wins, even an empty one.
        assert_eq!(
            taught(&[
                "KUBERNETES_SERVICE_HOST=",
                "KUBERNETES_SERVICE_HOST=1.2.3.4"
            ]),
            ""
        );
        assert_eq!(taught(&["KUBERNETES_SERVICE_PORT=443"]), "");
        assert_eq!(taught(&[]), "");
    }

    #[test]
    fn ipv6_and_odd_connects() {
        let inet6 = Value::Json(
            r#"{"sa_family":"AF_INET6","sin6_port":"443","sin6_flowinfo":"0","sin6_addr":"fd00::1","sin6_scopeid":"0"}"#
                .into(),
        );
        let unix = Value::Json(r#"{"sa_family":"AF_UNIX","sun_path":"fd00::1"}"#.into());
        let outcomes = run(&[
            // Odd addresses before any teaching are not even read.
            connect("c", Value::None),
            exec("c", env(&["KUBERNETES_SERVICE_HOST=fd00::1"])),
            connect("c", inet6),
            connect("c", unix),
            connect("c", Value::None),
            connect("c", Value::Json(r#"{"sin_addr":"fd00::1"}"#.into())),
            connect("c", Value::Json(r#"{"sa_family":"AF_INET"}"#.into())),
        ]);
        assert_eq!(
            outcomes[..4],
            [Ok(vec![]), Ok(vec![]), finding("fd00::1"), Ok(vec![])]
        );
        assert!(outcomes[4].as_ref().unwrap_err().contains("remote_addr"));
        assert_eq!(outcomes[5], Err("family not found in address".into()));
        assert_eq!(outcomes[6], Err("ip not found in address".into()));
    }

    #[test]
    fn events_without_a_container_id_or_env_are_ignored() {
        let outcomes = run(&[
            exec("", env(&["KUBERNETES_SERVICE_HOST=10.96.0.1"])),
            connect("", inet("10.96.0.1")),
            exec("d", Value::None),
            exec("d", Value::Text("KUBERNETES_SERVICE_HOST=10.96.0.1".into())),
            connect("d", inet("10.96.0.1")),
        ]);
        assert!(outcomes.iter().all(|o| o == &Ok(vec![])), "{outcomes:?}");
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_container_goes_first() {
        let mut addresses = ApiAddresses::default();
        for n in 0..MAX_CONTAINERS {
            assert!(!addresses.learn(&format!("c{n}"), "10.96.0.1"));
        }
        // Re-teaching c0 makes it the newest: c1 is now the oldest.
        assert!(!addresses.learn("c0", "10.96.0.2"));
        assert_eq!(addresses.len(), MAX_CONTAINERS);
        assert!(addresses.learn("new", "10.96.0.3"));
        assert_eq!(addresses.len(), MAX_CONTAINERS);
        assert_eq!(addresses.evictions(), 1);
        assert_eq!(addresses.get("c1"), None);
        assert_eq!(addresses.get("c0"), Some("10.96.0.2"));
        assert_eq!(addresses.get("new"), Some("10.96.0.3"));
        for n in 0..10 * MAX_CONTAINERS {
            addresses.learn(&format!("flood{n}"), "10.96.0.1");
        }
        assert_eq!(addresses.len(), MAX_CONTAINERS);
        assert_eq!(addresses.evictions(), 1 + 10 * MAX_CONTAINERS as u64);
        assert_eq!(addresses.by_age.len(), MAX_CONTAINERS);
    }

    #[test]
    fn overlong_ids_and_addresses_are_not_kept() {
        let mut addresses = ApiAddresses::default();
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert!(!addresses.learn(&long, "10.96.0.1"));
        assert!(addresses.is_empty());
        addresses.learn("e", "10.96.0.1");
        // A later overlong address replaces the earlier one, as in Tracee,
        // and could match no IP: it is the same as forgetting.
        addresses.learn("e", &long);
        assert_eq!(addresses.get("e"), None);
        assert!(addresses.is_empty() && addresses.by_age.is_empty());
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = K8sApiConnection::metadata();
        assert_eq!(
            (metadata.id.as_str(), metadata.version.as_str()),
            ("TRC-1013", "0.1.0")
        );
        assert_eq!(metadata.name, "Kubernetes API server connection detected");
        assert_eq!(metadata.event_name, "k8s_api_connection");
        assert_eq!(metadata.tags, vec!["container".to_string()]);
        assert_eq!(metadata.properties.severity, 1);
        assert_eq!(
            metadata.properties.extra,
            vec![Field {
                name: "MITRE ATT&CK".into(),
                value: Value::Text("Discovery: Cloud Service Discovery".into()),
            }]
        );
    }

    #[test]
    fn selects_container_execs_and_connects() {
        assert_eq!(
            K8sApiConnection::selected_events(),
            vec![
                EventSelector {
                    name: SCHED_PROCESS_EXEC.into(),
                    origin: OriginFilter::Container,
                    filters: vec![],
                    fields: vec!["container-id".into(), "env".into()],
                },
                EventSelector {
                    name: SECURITY_SOCKET_CONNECT.into(),
                    origin: OriginFilter::Container,
                    filters: vec![],
                    fields: vec!["container-id".into(), "remote_addr".into()],
                }
            ]
        );
    }
}
