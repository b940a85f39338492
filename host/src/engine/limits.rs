//! Resource limits applied to signatures: defaults, and per-signature
//! overrides and configuration from the operator's config file.

use std::collections::HashMap;
use std::time::Duration;

use super::runtime::EPOCH_TICK;
use crate::event::Field;

/// What one signature may consume, and when it is quarantined. The defaults
/// suit detections that look at one event at a time and keep little state.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Time one guest call (`on-event`, `on-signal`) may take before it is
    /// interrupted: a deadline in the engine's epoch ticks (1 ms), past which
    /// the call is interrupted only if it is still using the CPU (see
    /// `engine::watchdog`).
    pub cpu_per_event: Duration,
    /// Time loading may take: instantiation, `get-metadata`,
    /// `selected-events` and `init` together (and each rebuild after a
    /// trap). Enforced like `cpu_per_event`.
    pub load_time: Duration,
    /// Linear memory one signature instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wasm call stack, in bytes. Engine-wide: only the default applies.
    pub wasm_stack_bytes: usize,
    /// Largest module file read, in bytes. Engine-wide.
    pub module_bytes: u64,
    /// Wall-clock (and CPU) time compiling one module may take. Engine-wide.
    pub compile_time: Duration,
    /// Address space the compile worker may use, in bytes. Engine-wide.
    pub compile_memory_bytes: u64,
    /// Findings one event may produce; more fails the event.
    pub findings_per_event: usize,
    /// Bytes of data (names and values) one finding may carry; more fails the event.
    pub finding_bytes: usize,
    /// Bytes per second a signature may log (host `log`, stdout, stderr);
    /// the excess is dropped and counted.
    pub log_bytes_per_sec: usize,
    /// Faults (traps and limit hits; never errors the signature returns)
    /// within `quarantine_window` that quarantine a signature; 0 never
    /// quarantines.
    pub quarantine_after: u32,
    /// The window for `quarantine_after`.
    pub quarantine_window: Duration,
    /// How long the first quarantine lasts; each repeat doubles it.
    pub quarantine_cooldown: Duration,
    /// The longest a quarantine lasts.
    pub quarantine_cooldown_max: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_per_event: Duration::from_millis(10),
            load_time: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            wasm_stack_bytes: 512 << 10,
            module_bytes: 64 << 20,
            compile_time: Duration::from_secs(60),
            compile_memory_bytes: 2 << 30,
            findings_per_event: 64,
            finding_bytes: 64 << 10,
            log_bytes_per_sec: 64 << 10,
            quarantine_after: 10,
            quarantine_window: Duration::from_secs(60),
            quarantine_cooldown: Duration::from_secs(30),
            quarantine_cooldown_max: Duration::from_secs(3600),
        }
    }
}

impl Limits {
    /// The per-call time limit as a number of epoch ticks (at least one).
    pub fn cpu_ticks(&self) -> u64 {
        ticks(self.cpu_per_event)
    }

    /// Bytes the host may lift out of a call's results per event it held
    /// (wasmtime's hostcall fuel: strings by length, lists by their length
    /// times the host's element size, counted before each is copied). Room
    /// for every finding at its size limit twice over (the host's own
    /// per-field bookkeeping), plus an error message.
    pub fn output_bytes_per_event(&self) -> usize {
        self.findings_per_event
            .saturating_mul(self.finding_bytes)
            .saturating_mul(2)
            .saturating_add(OUTPUT_MESSAGE_BYTES)
    }

    /// Bytes the host may lift out of one call holding `events` events:
    /// [`Self::output_bytes_per_event`] each, at most
    /// [`OUTPUT_BYTES_PER_CALL`] in all (unless one event's own allowance is
    /// larger), so a batch cannot make the host hold gigabytes at once. A
    /// batch refused for its output is evaluated again one event per call,
    /// each with its own allowance, so no legitimate finding is lost.
    pub fn output_bytes_for(&self, events: usize) -> usize {
        let one = self.output_bytes_per_event();
        one.saturating_mul(events.max(1))
            .min(one.max(OUTPUT_BYTES_PER_CALL))
    }

    /// The load time limit as a number of epoch ticks (at least one).
    pub fn load_ticks(&self) -> u64 {
        ticks(self.load_time)
    }

    /// The cool-down of the `nth` quarantine (1-based): doubled each time, capped.
    pub fn cooldown(&self, nth: u32) -> Duration {
        let doublings = nth.saturating_sub(1);
        self.quarantine_cooldown
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.quarantine_cooldown_max)
    }
}

/// Most bytes one call's results may occupy on the host, whatever its
/// events (see [`Limits::output_bytes_for`]).
pub const OUTPUT_BYTES_PER_CALL: usize = 64 << 20;

/// Room for an error message in each event's output (the host keeps its
/// first KiB).
const OUTPUT_MESSAGE_BYTES: usize = 64 << 10;

pub(super) fn ticks(limit: Duration) -> u64 {
    let ticks = limit.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

/// Limits and `init` configuration for every signature: defaults plus
/// overrides by signature id.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Limits for signatures without an override.
    pub defaults: Limits,
    /// Limits by signature id.
    pub limits: HashMap<String, Limits>,
    /// `init` configuration by signature id.
    pub config: HashMap<String, Vec<Field>>,
    /// `init` configuration for ids without an entry in `config`.
    pub default_config: Vec<Field>,
}

impl Policy {
    /// The same limits for every signature and no configuration.
    pub fn uniform(defaults: Limits) -> Self {
        Self {
            defaults,
            ..Self::default()
        }
    }

    /// The limits for signature `id`.
    pub fn limits_for(&self, id: &str) -> &Limits {
        self.limits.get(id).unwrap_or(&self.defaults)
    }

    /// The `init` configuration for signature `id`.
    pub fn config_for(&self, id: &str) -> &[Field] {
        self.config.get(id).unwrap_or(&self.default_config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_round_up_and_never_reach_zero() {
        let limits = |ms| Limits {
            cpu_per_event: Duration::from_micros(ms),
            ..Limits::default()
        };
        assert_eq!(limits(10_000).cpu_ticks(), 10);
        assert_eq!(limits(10_500).cpu_ticks(), 11);
        assert_eq!(limits(0).cpu_ticks(), 1);
    }

    #[test]
    fn output_allowance_grows_with_the_events_of_a_call_up_to_its_cap() {
        let limits = Limits::default();
        let one = limits.output_bytes_per_event();
        assert_eq!(one, 2 * 64 * (64 << 10) + (64 << 10), "8 MiB + 64 KiB");
        assert_eq!(limits.output_bytes_for(0), one);
        assert_eq!(limits.output_bytes_for(3), 3 * one);
        assert_eq!(limits.output_bytes_for(64), OUTPUT_BYTES_PER_CALL);
        let generous = Limits {
            findings_per_event: 4096,
            ..Limits::default()
        };
        assert_eq!(
            generous.output_bytes_for(64),
            generous.output_bytes_per_event(),
            "one event's allowance is never cut"
        );
    }

    #[test]
    fn cooldowns_double_up_to_the_cap() {
        let limits = Limits::default();
        let secs = |n| limits.cooldown(n).as_secs();
        assert_eq!([secs(1), secs(2), secs(3)], [30, 60, 120]);
        assert_eq!(secs(8), 3600, "capped at an hour");
        assert_eq!(secs(u32::MAX), 3600);
    }

    #[test]
    fn overrides_by_id() {
        let mut policy = Policy::uniform(Limits::default());
        let strict = Limits {
            memory_bytes: 1 << 20,
            ..Limits::default()
        };
        policy.limits.insert("A".into(), strict.clone());
        assert_eq!(policy.limits_for("A"), &strict);
        assert_eq!(policy.limits_for("B"), &Limits::default());
        assert!(policy.config_for("A").is_empty());
    }
}
