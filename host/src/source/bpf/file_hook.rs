//! Where file events come from: the hooks in the order they are tried, and
//! the choice of the first this kernel accepts.

/// Forces one hook (`fentry`, `kprobe` or `syscall`), for tests on
/// kernels that have several; unset, the first that loads is used.
pub const FORCE_ENV: &str = "SIGBOX_FILE_HOOK";

/// Where file events come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileHook {
    /// fentry on `security_file_open` and `security_inode_rename`.
    Fentry,
    /// kprobes on the same functions (kernels without BPF trampolines).
    /// Attaching one needs `CAP_PERFMON`, which the daemon drops, so these
    /// stay attached from start; `file_config` keeps them silent.
    Kprobe,
    /// `tp_btf/sys_exit`: successful open/openat/openat2 and
    /// rename/renameat/renameat2 syscalls (kernels that refuse both).
    SyscallExit,
}

impl FileHook {
    /// Cheapest and most complete first.
    pub const CHAIN: &'static [FileHook] =
        &[FileHook::Fentry, FileHook::Kprobe, FileHook::SyscallExit];

    /// The hook named `name` (as [`FORCE_ENV`] takes it).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "fentry" => Some(Self::Fentry),
            "kprobe" => Some(Self::Kprobe),
            "syscall" => Some(Self::SyscallExit),
            _ => None,
        }
    }

    /// The hooks to try: the one [`FORCE_ENV`] names, else [`Self::CHAIN`].
    pub fn candidates_from_env() -> &'static [FileHook] {
        let Ok(name) = std::env::var(FORCE_ENV) else {
            return Self::CHAIN;
        };
        match Self::parse(&name) {
            Some(hook) => {
                let at = Self::CHAIN.iter().position(|h| *h == hook).unwrap_or(0);
                tracing::info!("{FORCE_ENV}={name}: file events from {hook:?} only");
                &Self::CHAIN[at..=at]
            }
            None => {
                tracing::warn!("{FORCE_ENV}={name:?} is not fentry, kprobe or syscall; ignored");
                Self::CHAIN
            }
        }
    }

    /// Whether the host attaches the programs only while a file event is
    /// selected (kprobes cannot be attached once privileges are dropped).
    pub fn attaches_on_demand(self) -> bool {
        self != Self::Kprobe
    }
}

/// The first of `candidates` that `set_up` accepts, with what it returned;
/// each refusal is logged. Without any, the last refusal.
pub fn choose<T, E: std::error::Error>(
    candidates: &[FileHook],
    mut set_up: impl FnMut(FileHook) -> Result<T, E>,
) -> Result<(FileHook, T), E> {
    let mut refused = None;
    for &hook in candidates {
        match set_up(hook) {
            Ok(value) => {
                tracing::info!("file events come from {hook:?}");
                return Ok((hook, value));
            }
            Err(error) => {
                let why = crate::error_chain(&error);
                tracing::info!("file events cannot come from {hook:?}: {why}");
                refused = Some(error);
            }
        }
    }
    Err(refused.expect("at least one candidate hook"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `choose` tries, given the hooks a kernel accepts.
    fn chosen(accepted: &[FileHook]) -> (Result<FileHook, String>, Vec<FileHook>) {
        let mut tried = Vec::new();
        let result = choose(FileHook::CHAIN, |hook| {
            tried.push(hook);
            if accepted.contains(&hook) {
                Ok(())
            } else {
                Err(std::io::Error::other(format!("{hook:?} refused")))
            }
        });
        (
            result.map(|(hook, ())| hook).map_err(|e| e.to_string()),
            tried,
        )
    }

    #[test]
    fn the_chain_takes_the_first_hook_that_loads() {
        use FileHook::*;
        assert_eq!(
            chosen(&[Fentry, Kprobe, SyscallExit]),
            (Ok(Fentry), vec![Fentry])
        );
        // No trampolines (fentry refused), kprobes there.
        assert_eq!(
            chosen(&[Kprobe, SyscallExit]),
            (Ok(Kprobe), vec![Fentry, Kprobe])
        );
        // This machine: fentry refused, no kprobes.
        assert_eq!(
            chosen(&[SyscallExit]),
            (Ok(SyscallExit), vec![Fentry, Kprobe, SyscallExit])
        );
        assert_eq!(
            chosen(&[]),
            (
                Err("SyscallExit refused".to_owned()),
                vec![Fentry, Kprobe, SyscallExit]
            )
        );
    }

    #[test]
    fn hooks_are_forced_by_name() {
        assert_eq!(FileHook::parse("fentry"), Some(FileHook::Fentry));
        assert_eq!(FileHook::parse("kprobe"), Some(FileHook::Kprobe));
        assert_eq!(FileHook::parse("syscall"), Some(FileHook::SyscallExit));
        assert_eq!(FileHook::parse("lsm"), None);
        assert!(!FileHook::Kprobe.attaches_on_demand());
        assert!(
            FileHook::Fentry.attaches_on_demand() && FileHook::SyscallExit.attaches_on_demand()
        );
    }
}
