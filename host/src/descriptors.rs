//! The daemon's open-file limit: raised to what it may use at start, so
//! clients of the listener, scans, outputs and BPF maps do not compete for
//! the 1,024 descriptors a default soft limit allows.

/// Below this, `sigbox run` warns: scans, outputs, BPF, wasm instances and
/// the listener's [`crate::telemetry::server::MAX_CONNECTIONS`] need a few
/// hundred at most, with room to spare.
pub const LOW_LIMIT: u64 = 256;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and logs both values.
/// A failure is logged, not fatal: the daemon runs with the limit it has.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into `limit`, a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        tracing::warn!(
            "cannot read the open-file limit: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    let (soft, hard) = (limit.rlim_cur, limit.rlim_max);
    let mut now = soft;
    if soft < hard {
        let raised = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit only reads `raised`, a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) } == 0 {
            now = hard;
        } else {
            tracing::warn!(
                "cannot raise the open-file limit from {soft} to {hard}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    if now == soft {
        tracing::info!("open-file limit: {soft} (hard limit {hard})");
    } else {
        tracing::info!("open-file limit: raised from {soft} to {now} (the hard limit)");
    }
    if now < LOW_LIMIT {
        tracing::warn!(
            "the open-file limit ({now}) is below {LOW_LIMIT}: raise it (LimitNOFILE= in the unit, ulimit -n)"
        );
    }
}
