//! Least privilege for the daemon: once the eBPF programs are loaded and
//! attached, nothing else sigbox does needs a capability, so every one is
//! dropped — and, if configured, the process becomes an unprivileged user —
//! before any wasm runs.
//!
//! Capabilities are per thread on Linux, so this must run while the process
//! has a single thread; it checks that and refuses otherwise.

use std::ffi::CString;
use std::path::Path;

use caps::{CapSet, Capability};

/// Why privileges could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// More than one thread exists; capabilities would survive in the others.
    #[error("cannot drop privileges with {0} threads running (capabilities are per thread)")]
    Threads(usize),
    /// The user does not exist.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// A capability operation failed.
    #[error("cannot {action}")]
    Caps {
        /// What was attempted.
        action: &'static str,
        #[source]
        source: caps::errors::CapsError,
    },
    /// A system call failed.
    #[error("cannot {action}")]
    Os {
        /// What was attempted.
        action: String,
        #[source]
        source: std::io::Error,
    },
}

/// A resolved user to switch to.
#[derive(Debug, Clone, Copy)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks up `name` in the user database.
///
/// # Errors
/// [`PrivilegeError::UnknownUser`] if there is no such user.
pub fn lookup_user(name: &str) -> Result<Account, PrivilegeError> {
    let unknown = || PrivilegeError::UnknownUser(name.to_owned());
    let c_name = CString::new(name).map_err(|_| unknown())?;
    let mut passwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buffer` outlives its use
    // through `passwd`, which is only read below, before `buffer` is dropped.
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut passwd,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(unknown());
    }
    Ok(Account {
        uid: passwd.pw_uid,
        gid: passwd.pw_gid,
    })
}

/// Gives `path` to `account` so it can still be written after the switch.
///
/// # Errors
/// The chown failed.
pub fn hand_over(path: &Path, account: Account) -> Result<(), PrivilegeError> {
    std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid)).map_err(|source| {
        PrivilegeError::Os {
            action: format!("give {} to uid {}", path.display(), account.uid),
            source,
        }
    })
}

/// Drops every capability (bounding, ambient, inheritable, permitted and
/// effective sets), switches to `account` if given, and sets no_new_privs so
/// nothing executed later can regain privilege.
///
/// # Errors
/// More than one thread runs, or a step failed (the process should stop:
/// running wasm with privileges is what this prevents).
pub fn drop_privileges(account: Option<Account>) -> Result<(), PrivilegeError> {
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
    if threads > 1 {
        return Err(PrivilegeError::Threads(threads));
    }
    // The bounding set needs CAP_SETPCAP to shrink, so it goes first. A
    // service manager that granted only what attaching needs (the systemd
    // unit, the DaemonSet) leaves no CAP_SETPCAP: the bounding set then
    // stays as it set it, which is harmless once the permitted set is empty
    // and no_new_privs is set (nothing executed can gain capabilities).
    let can_shrink =
        caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false);
    if !can_shrink {
        tracing::info!(
            "the capability bounding set stays as the service manager set it (no CAP_SETPCAP); \
             every permitted and effective capability is still dropped"
        );
    }
    for capability in caps::all().into_iter().filter(|_| can_shrink) {
        if caps::has_cap(None, CapSet::Bounding, capability).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, capability).map_err(|source| {
                PrivilegeError::Caps {
                    action: "shrink the capability bounding set",
                    source,
                }
            })?;
        }
    }
    if let Some(account) = account {
        switch_user(account)?;
    }
    for (set, action) in [
        (CapSet::Ambient, "clear ambient capabilities"),
        (CapSet::Inheritable, "clear inheritable capabilities"),
        (CapSet::Effective, "clear effective capabilities"),
        (CapSet::Permitted, "clear permitted capabilities"),
    ] {
        caps::clear(None, set).map_err(|source| PrivilegeError::Caps { action, source })?;
    }
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(os_error("set no_new_privs"));
    }
    debug_assert!(!caps::has_cap(None, CapSet::Effective, Capability::CAP_BPF).unwrap_or(true));
    Ok(())
}

fn switch_user(account: Account) -> Result<(), PrivilegeError> {
    // SAFETY: plain system calls on integer arguments; order matters: groups
    // and gid first, while the uid still allows changing them.
    unsafe {
        if libc::setgroups(1, &account.gid) != 0 {
            return Err(os_error("set supplementary groups"));
        }
        if libc::setresgid(account.gid, account.gid, account.gid) != 0 {
            return Err(os_error("set the group id"));
        }
        if libc::setresuid(account.uid, account.uid, account.uid) != 0 {
            return Err(os_error("set the user id"));
        }
    }
    Ok(())
}

fn os_error(action: &str) -> PrivilegeError {
    PrivilegeError::Os {
        action: action.to_owned(),
        source: std::io::Error::last_os_error(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_users() {
        let root = lookup_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(matches!(
            lookup_user("no-such-user-sigbox"),
            Err(PrivilegeError::UnknownUser(_))
        ));
    }

    #[test]
    fn refuses_with_several_threads() {
        // A second thread that is alive for the whole call.
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || wait.recv());
        let result = drop_privileges(None);
        done.send(()).unwrap();
        other.join().unwrap().unwrap();
        assert!(matches!(result, Err(PrivilegeError::Threads(n)) if n >= 2));
    }
}
