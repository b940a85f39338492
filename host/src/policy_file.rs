//! The operator's config file (TOML): default limits, and limits and `init`
//! configuration per signature id.
//!
//! ```toml
//! [limits]                    # defaults for every signature
//! cpu_ms = 10                 # CPU per event
//! memory_mib = 64             # linear memory
//! findings_per_event = 64
//! finding_kib = 64            # data carried by one finding
//! log_kib_per_sec = 64        # log + stdout + stderr
//! load_s = 10                 # instantiate + get-metadata + selected-events + init
//! quarantine_after = 10       # traps and limit hits within the window; 0 = never
//! quarantine_window_s = 60
//! quarantine_cooldown_s = 30  # first quarantine; doubles on each repeat
//! quarantine_cooldown_max_s = 3600
//! stack_kib = 512             # engine-wide: [limits] only
//! module_mib = 64             # largest module file; engine-wide
//! compile_s = 60              # compiling one module (child process); engine-wide
//! compile_memory_mib = 2048   # the compile worker's address space; engine-wide
//!
//! [signature."TRC-1016"]
//! limits = { cpu_ms = 20 }    # overrides the defaults above for this id
//! config = { shells = "sh,bash" }   # passed to the signature's init
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::engine::{Limits, Policy};
use crate::event::Field;
use crate::source::tracee_json::json_to_value;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    limits: LimitOverrides,
    #[serde(default)]
    signature: HashMap<String, SignatureSection>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SignatureSection {
    #[serde(default)]
    limits: LimitOverrides,
    #[serde(default)]
    config: toml::Table,
}

/// Limits as written in the file: every key optional.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// CPU per event, in milliseconds.
    pub cpu_ms: Option<u64>,
    /// Linear memory, in MiB.
    pub memory_mib: Option<usize>,
    /// Findings one event may produce.
    pub findings_per_event: Option<usize>,
    /// Data one finding may carry, in KiB.
    pub finding_kib: Option<usize>,
    /// Log output per second, in KiB.
    pub log_kib_per_sec: Option<usize>,
    /// Failures within the window that quarantine a signature (0: never).
    pub quarantine_after: Option<u32>,
    /// The quarantine window, in seconds.
    pub quarantine_window_s: Option<u64>,
    /// Time loading may take, in seconds.
    pub load_s: Option<u64>,
    /// The first quarantine's cool-down, in seconds.
    pub quarantine_cooldown_s: Option<u64>,
    /// The longest cool-down, in seconds.
    pub quarantine_cooldown_max_s: Option<u64>,
    /// Wasm stack, in KiB (engine-wide).
    pub stack_kib: Option<usize>,
    /// Largest module file, in MiB (engine-wide).
    pub module_mib: Option<u64>,
    /// Time compiling one module may take, in seconds (engine-wide).
    pub compile_s: Option<u64>,
    /// Address space of the compile worker, in MiB (engine-wide).
    pub compile_memory_mib: Option<u64>,
}

impl LimitOverrides {
    /// `base` with every key set here replacing its value.
    ///
    /// # Errors
    /// A time or memory limit of 0, which would fail every call or every
    /// instantiation: named by its key.
    pub fn apply(&self, base: &Limits) -> anyhow::Result<Limits> {
        for (key, value) in [
            ("cpu_ms", self.cpu_ms),
            ("memory_mib", self.memory_mib.map(|m| m as u64)),
            ("load_s", self.load_s),
            ("module_mib", self.module_mib),
            ("compile_s", self.compile_s),
            ("compile_memory_mib", self.compile_memory_mib),
        ] {
            if value == Some(0) {
                anyhow::bail!("{key} = 0 would fail every signature; the least is 1");
            }
        }
        let mut limits = base.clone();
        if let Some(ms) = self.cpu_ms {
            limits.cpu_per_event = Duration::from_millis(ms);
        }
        if let Some(mib) = self.memory_mib {
            limits.memory_bytes = mib << 20;
        }
        if let Some(n) = self.findings_per_event {
            limits.findings_per_event = n;
        }
        if let Some(kib) = self.finding_kib {
            limits.finding_bytes = kib << 10;
        }
        if let Some(kib) = self.log_kib_per_sec {
            limits.log_bytes_per_sec = kib << 10;
        }
        if let Some(n) = self.quarantine_after {
            limits.quarantine_after = n;
        }
        if let Some(s) = self.quarantine_window_s {
            limits.quarantine_window = Duration::from_secs(s);
        }
        if let Some(s) = self.load_s {
            limits.load_time = Duration::from_secs(s);
        }
        if let Some(s) = self.quarantine_cooldown_s {
            limits.quarantine_cooldown = Duration::from_secs(s);
        }
        if let Some(s) = self.quarantine_cooldown_max_s {
            limits.quarantine_cooldown_max = Duration::from_secs(s);
        }
        if let Some(mib) = self.module_mib {
            limits.module_bytes = mib << 20;
        }
        if let Some(s) = self.compile_s {
            limits.compile_time = Duration::from_secs(s);
        }
        if let Some(mib) = self.compile_memory_mib {
            limits.compile_memory_bytes = mib << 20;
        }
        if let Some(kib) = self.stack_kib {
            limits.wasm_stack_bytes = kib.max(64) << 10;
        }
        Ok(limits)
    }
}

/// Builds the policy: built-in defaults, then the file's `[limits]`, then
/// `flags` (command-line limits, which win), then per-signature sections.
///
/// # Errors
/// The file cannot be read or is not valid (unknown keys are errors, so a
/// typo never silently leaves a limit at its default).
pub fn load(path: Option<&Path>, flags: &LimitOverrides) -> anyhow::Result<Policy> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            parse(&text, Some(path), flags)
        }
        None => build(File::default(), None, flags),
    }
}

/// Like [`load`], for the text of the config file read from `path`.
///
/// # Errors
/// The text is not a valid config file.
pub fn parse(text: &str, path: Option<&Path>, flags: &LimitOverrides) -> anyhow::Result<Policy> {
    let file: File = toml::from_str(text).with_context(|| match path {
        Some(path) => format!("invalid config file {}", path.display()),
        None => "invalid config file".to_owned(),
    })?;
    build(file, path, flags)
}

fn build(file: File, path: Option<&Path>, flags: &LimitOverrides) -> anyhow::Result<Policy> {
    let in_file = |e: anyhow::Error| match path {
        Some(path) => e.context(format!("invalid config file {}", path.display())),
        None => e,
    };
    let defaults = flags.apply(&file.limits.apply(&Limits::default()).map_err(in_file)?)?;
    let mut policy = Policy::uniform(defaults.clone());
    for (id, section) in file.signature {
        let l = &section.limits;
        for (key, set) in [
            ("stack_kib", l.stack_kib.is_some()),
            ("module_mib", l.module_mib.is_some()),
            ("compile_s", l.compile_s.is_some()),
            ("compile_memory_mib", l.compile_memory_mib.is_some()),
        ] {
            if set {
                anyhow::bail!("signature {id}: {key} is engine-wide; set it under [limits]");
            }
        }
        let limits = section
            .limits
            .apply(&defaults)
            .map_err(|e| in_file(e.context(format!("[signature.\"{id}\"]"))))?;
        policy.limits.insert(id.clone(), limits);
        let config = section
            .config
            .into_iter()
            .map(|(name, value)| Field {
                name,
                value: json_to_value(toml_to_json(value)),
            })
            .collect();
        policy.config.insert(id, config);
    }
    Ok(policy)
}

fn toml_to_json(value: toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => s.into(),
        toml::Value::Integer(i) => i.into(),
        toml::Value::Float(f) => f.into(),
        toml::Value::Boolean(b) => b.into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(items) => items.into_iter().map(toml_to_json).collect(),
        toml::Value::Table(table) => table
            .into_iter()
            .map(|(k, v)| (k, toml_to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    fn write(text: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::new(text)
    }

    /// A config file in the temp dir, removed on drop.
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn new(text: &str) -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "sigbox-policy-{}-{}.toml",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::write(&path, text).unwrap();
                Self(path)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn file_defaults_flags_and_overrides_layer_in_order() {
        let file = write(
            r#"
            [limits]
            cpu_ms = 20
            memory_mib = 32
            [signature."TRC-1016"]
            limits = { cpu_ms = 50 }
            config = { shells = "sh", strict = true }
            "#,
        );
        let flags = LimitOverrides {
            memory_mib: Some(16),
            ..Default::default()
        };
        let policy = load(Some(&file.0), &flags).unwrap();
        assert_eq!(policy.defaults.cpu_per_event, Duration::from_millis(20));
        assert_eq!(
            policy.defaults.memory_bytes,
            16 << 20,
            "flags win over the file"
        );
        let trc = policy.limits_for("TRC-1016");
        assert_eq!(trc.cpu_per_event, Duration::from_millis(50));
        assert_eq!(
            trc.memory_bytes,
            16 << 20,
            "unset keys inherit the defaults"
        );
        let config = policy.config_for("TRC-1016");
        assert_eq!(config.len(), 2);
        assert!(
            config
                .iter()
                .any(|f| f.name == "shells" && matches!(&f.value, Value::Text(s) if s == "sh"))
        );
        assert!(
            config
                .iter()
                .any(|f| f.name == "strict" && matches!(f.value, Value::Boolean(true)))
        );
        assert_eq!(
            policy.limits_for("OTHER").cpu_per_event,
            Duration::from_millis(20)
        );
    }

    #[test]
    fn zero_limits_are_errors_naming_the_key() {
        for text in [
            "[limits]\ncpu_ms = 0\n",
            "[limits]\nmemory_mib = 0\n",
            "[signature.\"X\"]\nlimits = { load_s = 0 }\n",
        ] {
            let file = write(text);
            let error = format!(
                "{:#}",
                load(Some(&file.0), &LimitOverrides::default()).unwrap_err()
            );
            assert!(error.contains("= 0 would fail every signature"), "{error}");
        }
    }

    /// Every TOML example in the README is a valid config file.
    #[test]
    fn the_readme_examples_are_valid_config_files() {
        let readme = include_str!("../../README.md");
        let examples: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap())
            .collect();
        assert!(!examples.is_empty());
        for example in examples {
            let file = write(example);
            load(Some(&file.0), &LimitOverrides::default())
                .unwrap_or_else(|e| panic!("{e:#}\n{example}"));
        }
    }

    #[test]
    fn typos_and_misplaced_keys_are_errors() {
        let typo = write("[limits]\ncpu_msec = 5\n");
        let error = format!(
            "{:#}",
            load(Some(&typo.0), &LimitOverrides::default()).unwrap_err()
        );
        assert!(error.contains("cpu_msec"), "{error}");
        let stack = write("[signature.X]\nlimits = { stack_kib = 128 }\n");
        let error = format!(
            "{:#}",
            load(Some(&stack.0), &LimitOverrides::default()).unwrap_err()
        );
        assert!(error.contains("engine-wide"), "{error}");
        let missing = load(
            Some(Path::new("/nonexistent/sigbox.toml")),
            &LimitOverrides::default(),
        );
        assert!(format!("{:#}", missing.unwrap_err()).contains("/nonexistent/sigbox.toml"));
    }
}
