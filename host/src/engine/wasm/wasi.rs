//! The WASI a signature gets: the imports Rust's std (and other languages'
//! runtimes) link against, with nothing behind them and nothing that waits.
//!
//! wasmtime-wasi's synchronous bindings run every host call to completion
//! before returning to the guest, outside the epoch deadline. So a guest must
//! not be able to ask for anything that takes time:
//! - clocks: `now` and `resolution` are real, but a pollable subscribed on
//!   the monotonic clock is ready at once (a sleep returns immediately, and a
//!   guest that spins on it hits its per-call time limit instead);
//! - stdout/stderr: always ready, written synchronously to the log budget
//!   (no background task, no buffer a guest can fill);
//! - stdin: empty; no preopened directories; sockets and name lookup off;
//! - host resources (streams, pollables): at most [`MAX_HOST_RESOURCES`] per
//!   instance, so a guest that leaks handles traps instead of growing host
//!   memory.

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::clocks::{WasiClocksCtxView, WasiClocksView};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;

use super::guest_output::GuestOutput;
use super::host_state::HostState;

/// Host resources (streams, pollables, …) one instance may hold at once.
/// Rust's std holds one or two at a time; more is a leak.
pub const MAX_HOST_RESOURCES: usize = 256;

/// Adds WASI to `linker`, replacing the monotonic clock with one guests
/// cannot wait on.
///
/// # Errors
/// wasmtime rejected a definition (a bug: the interfaces are fixed).
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    monotonic_clock::add_to_linker::<HostState, NoWaitClocks>(linker, |state| {
        NoWaitClock(state.clocks())
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The WASI context for one instance: stdout and stderr go to `output`'s
/// log; everything else is empty or denied.
pub fn context(stdout: GuestOutput, stderr: GuestOutput) -> WasiCtx {
    WasiCtx::builder()
        .stdout(stdout)
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        // Random bytes are copied through host memory: a small cap.
        .max_random_size(64 << 10)
        .build()
}

/// Selects [`NoWaitClock`] as the monotonic clock's host implementation.
struct NoWaitClocks;

impl HasData for NoWaitClocks {
    type Data<'a> = NoWaitClock<'a>;
}

/// wasmtime-wasi's monotonic clock, except that every subscription is due now.
struct NoWaitClock<'a>(WasiClocksCtxView<'a>);

impl monotonic_clock::Host for NoWaitClock<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        self.0.now()
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        self.0.resolution()
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.0.subscribe_duration(0)
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.0.subscribe_duration(0)
    }
}
