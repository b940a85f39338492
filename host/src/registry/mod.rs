//! Signature modules in OCI registries (`sigbox push`, `sigbox pull`,
//! `sigbox pull --follow`), through `oci-client`, as CNCF wasm artifacts:
//! one `application/wasm` layer with the module, config
//! `application/vnd.wasm.config.v0+json`, and, when the module has a
//! detached signature, a second layer holding it.
//!
//! Nothing pulled is trusted for coming from a registry: a module is
//! installed only after it verifies against the trust policy, exactly as
//! `sigbox run` would check it (and the daemon checks it again).

mod fetch;
mod pull;
mod push;

use std::path::{Path, PathBuf};

use anyhow::Context;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

pub use fetch::Timeouts;
pub(crate) use pull::Follow;
pub(crate) use push::push;

/// The module layer (CNCF wasm OCI artifact).
pub(crate) const WASM_LAYER: &str = "application/wasm";
/// The artifact config (CNCF wasm OCI artifact).
pub(crate) const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// A detached module signature (`NAME.wasm.sig`), as a second layer.
pub(crate) const SIGNATURE_LAYER: &str = "application/vnd.sigbox.wasm.signature.v1";
/// The largest module layer pulled (the daemon's default module limit).
pub(crate) const MAX_MODULE_BYTES: usize = 64 << 20;

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Plain HTTP for every registry, not only loopback ones (`--plain-http`).
    pub plain_http: bool,
    /// How long the registry may take.
    pub timeouts: Timeouts,
}

impl Connection {
    /// A client for `reference`'s registry: HTTPS, except plain HTTP for a
    /// registry on the loopback interface or when asked.
    pub(crate) fn client(&self, reference: &Reference) -> Client {
        let registry = reference.resolve_registry().to_owned();
        let protocol = if self.plain_http {
            ClientProtocol::Http
        } else if is_loopback(&registry) {
            ClientProtocol::HttpsExcept(vec![registry])
        } else {
            ClientProtocol::Https
        };
        Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(self.timeouts.connect),
            read_timeout: Some(self.timeouts.read),
            ..ClientConfig::default()
        })
    }

    /// `http` or `https` for `reference`'s registry, as [`Self::client`]
    /// chooses.
    pub(crate) fn scheme(&self, reference: &Reference) -> &'static str {
        if self.plain_http || is_loopback(reference.resolve_registry()) {
            "http"
        } else {
            "https"
        }
    }

    /// The HTTP client for pulling's bounded reads, with the same timeouts.
    ///
    /// # Errors
    /// TLS cannot be set up.
    pub(crate) fn http(&self) -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .connect_timeout(self.timeouts.connect)
            .read_timeout(self.timeouts.read)
            .build()
            .context("cannot set up the HTTP client")
    }
}

/// Parses `OWNER/NAME:TAG`-style references, naming the bad one.
///
/// # Errors
/// Not a valid image reference.
pub(crate) fn parse_reference(text: &str) -> anyhow::Result<Reference> {
    text.parse::<Reference>().with_context(|| {
        format!("{text:?} is not an image reference (REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST])")
    })
}

/// Whether `registry` (`host[:port]`) is on the loopback interface.
fn is_loopback(registry: &str) -> bool {
    let host = registry
        .strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| registry.split(':').next().unwrap_or(registry));
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The credentials the Docker config file (`$DOCKER_CONFIG/config.json`,
/// else `~/.docker/config.json`; credential helpers included) has for
/// `reference`'s registry; anonymous when there is no such file or entry.
///
/// # Errors
/// The config file exists but cannot be read or decoded.
pub(crate) fn credentials(reference: &Reference) -> anyhow::Result<RegistryAuth> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let Some(file) = docker_config_file() else {
        return Ok(RegistryAuth::Anonymous);
    };
    let registry = reference.resolve_registry();
    let config = match std::fs::File::open(&file) {
        Ok(config) => config,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(RegistryAuth::Anonymous);
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", file.display()));
        }
    };
    match docker_credential::get_credential_from_reader(std::io::BufReader::new(config), registry) {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        Ok(DockerCredential::IdentityToken(token)) => Ok(RegistryAuth::Bearer(token)),
        Err(E::NoCredentialConfigured) => Ok(RegistryAuth::Anonymous),
        Err(error) => Err(anyhow::anyhow!(
            "cannot get the credentials for {registry} from {}: {error:?}",
            file.display()
        )),
    }
}

/// Where the Docker config file is, as the Docker CLI looks for it.
fn docker_config_file() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    Some(dir.join("config.json"))
}

/// The file name a pulled module is installed under: `--name`, else the
/// last part of the repository (`…/trc-1016` → `trc-1016.wasm`).
///
/// # Errors
/// The name would not be a plain `*.wasm` file in the directory.
pub(crate) fn module_file_name(
    reference: &Reference,
    name: Option<&str>,
) -> anyhow::Result<String> {
    let stem = name.unwrap_or_else(|| {
        reference
            .repository()
            .rsplit('/')
            .next()
            .unwrap_or_default()
    });
    let stem = stem.strip_suffix(".wasm").unwrap_or(stem);
    anyhow::ensure!(
        !stem.is_empty()
            && !stem.starts_with('.')
            && stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "{stem:?} cannot name a module file: use letters, digits, '-', '_' and '.' (--name NAME)"
    );
    Ok(format!("{stem}.wasm"))
}

/// Writes `bytes` to `dir/name` through a hidden temporary file (which the
/// daemon ignores) and a rename, so the daemon never sees half a file.
///
/// # Errors
/// The file cannot be written or renamed.
fn install_file(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let temp = dir.join(format!(".{name}.pulling"));
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    let target = dir.join(name);
    std::fs::rename(&temp, &target)
        .with_context(|| format!("cannot rename {} to {}", temp.display(), target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries() {
        for yes in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "127.0.0.2",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "ghcr.io",
            "10.0.0.1:5000",
            "registry.example:443",
            "[2001:db8::1]:5000",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    /// Credentials from a Docker config file: base64 `auth` entries by
    /// registry, anonymous for others or without a file.
    #[test]
    fn docker_config_credentials() {
        let dir = std::env::temp_dir().join(format!("sigbox-docker-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // "ci:s3cret"
        std::fs::write(
            dir.join("config.json"),
            r#"{"auths":{"registry.example:5000":{"auth":"Y2k6czNjcmV0"}}}"#,
        )
        .unwrap();
        // SAFETY: this is the only test in the crate that touches DOCKER_CONFIG.
        unsafe { std::env::set_var("DOCKER_CONFIG", &dir) };
        let known = parse_reference("registry.example:5000/d/trc-1016:v1").unwrap();
        let other = parse_reference("127.0.0.1:5000/d/trc-1016:v1").unwrap();
        let found = credentials(&known).unwrap();
        let anonymous = credentials(&other).unwrap();
        unsafe { std::env::set_var("DOCKER_CONFIG", dir.join("missing")) };
        let without_file = credentials(&known).unwrap();
        unsafe { std::env::remove_var("DOCKER_CONFIG") };
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            matches!(found, RegistryAuth::Basic(ref u, ref p) if u == "ci" && p == "s3cret"),
            "{found:?}"
        );
        assert!(
            matches!(anonymous, RegistryAuth::Anonymous),
            "{anonymous:?}"
        );
        assert!(
            matches!(without_file, RegistryAuth::Anonymous),
            "{without_file:?}"
        );
    }

    #[test]
    fn module_names() {
        let r = parse_reference("127.0.0.1:5000/detections/trc-1016:v1").unwrap();
        assert_eq!(module_file_name(&r, None).unwrap(), "trc-1016.wasm");
        assert_eq!(module_file_name(&r, Some("web")).unwrap(), "web.wasm");
        for bad in ["", ".hidden", "../x", "a/b", "x y"] {
            assert!(module_file_name(&r, Some(bad)).is_err(), "{bad}");
        }
    }
}
