//! The network, process and mount programs (`bpf/sys.bpf.h`): loaded and
//! attached at start, each kind switched on in `sys_config` only while a
//! loaded signature selects it.
//!
//! They sit on `syscalls:*` tracepoints, attached through perf events,
//! which need `CAP_PERFMON`: the daemon drops it before any signature
//! loads, so the attach happens at start and a hot swap flips the map
//! switch, which needs no capability. A switched-off program returns after
//! one array lookup, and only runs on its own syscall (connect, dup*,
//! ptrace, process_vm_writev, mount).

use aya::Ebpf;
use aya::maps::{Array, IterableMap as _, MapData, MapError, PerCpuArray, RingBuf};
use aya::programs::TracePoint;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::sys_record::{SYS_KINDS, c};
use super::{BpfError, attach_error, dup_map, ensure_tracefs, load_error, program, take_map};
use crate::event::Kind;

const MAP_SYS_EVENTS: &str = "sys_events";
const MAP_SYS_CONFIG: &str = "sys_config";
const MAP_SYS_DROPS: &str = "sys_drops";
pub(super) const MAP_SYS_SCRATCH: &str = "sys_scratch";

/// `(program, syscalls tracepoint)` of each kind, as in `bpf/sys.bpf.h`.
fn programs_of(kind: Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::SecuritySocketConnect => &[("sigbox_enter_connect", "sys_enter_connect")],
        Kind::SocketDup => &[
            ("sigbox_enter_dup", "sys_enter_dup"),
            ("sigbox_enter_dup2", "sys_enter_dup2"),
            ("sigbox_enter_dup3", "sys_enter_dup3"),
            ("sigbox_exit_dup", "sys_exit_dup"),
            ("sigbox_exit_dup2", "sys_exit_dup2"),
            ("sigbox_exit_dup3", "sys_exit_dup3"),
        ],
        Kind::Ptrace => &[("sigbox_enter_ptrace", "sys_enter_ptrace")],
        Kind::ProcessVmWritev => &[(
            "sigbox_enter_process_vm_writev",
            "sys_enter_process_vm_writev",
        )],
        Kind::SecuritySbMount => &[("sigbox_enter_mount", "sys_enter_mount")],
        _ => &[],
    }
}

/// The kinds' ring buffer and switches.
pub(super) struct SysSource {
    pub(super) ring: AsyncFd<RingBuf<MapData>>,
    config: Array<MapData, u32>,
    drops: PerCpuArray<MapData, u64>,
    /// What `config` holds now, by `SYS_KIND_*` index.
    switched_on: [bool; c::SYS_KINDS as usize],
}

impl SysSource {
    /// Loads and attaches every program (each returns at once until its
    /// kind is switched on) and takes the maps.
    pub(super) fn load(ebpf: &mut Ebpf) -> Result<Self, BpfError> {
        ensure_tracefs()?;
        for (kind, _) in SYS_KINDS {
            for &(name, tracepoint) in programs_of(kind) {
                let prog: &mut TracePoint = program(ebpf, name)?;
                prog.load().map_err(|e| load_error(name, e))?;
                prog.attach("syscalls", tracepoint)
                    .map_err(|e| attach_error(name, e))?;
            }
        }
        let ring = take_map(ebpf, MAP_SYS_EVENTS, RingBuf::try_from)?;
        // SAFETY: as for the exec ring: the RingBuf owns its fd for as long
        // as the AsyncFd owns the RingBuf.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|error| BpfError::Poll(error.into_parts().1))?;
        Ok(Self {
            ring,
            config: take_map(ebpf, MAP_SYS_CONFIG, Array::try_from)?,
            drops: take_map(ebpf, MAP_SYS_DROPS, PerCpuArray::try_from)?,
            switched_on: [false; c::SYS_KINDS as usize],
        })
    }

    /// Switches on exactly the kinds in `wanted`; returns whether anything
    /// changed.
    pub(super) fn switch(&mut self, wanted: &[Kind]) -> Result<bool, MapError> {
        let mut changed = false;
        for (kind, index) in SYS_KINDS {
            let on = wanted.contains(&kind);
            let slot = &mut self.switched_on[index as usize];
            if *slot != on {
                self.config.set(index, u32::from(on), 0)?;
                *slot = on;
                changed = true;
            }
        }
        Ok(changed)
    }

    /// The kinds switched on now.
    pub(super) fn switched_on(&self) -> Vec<Kind> {
        SYS_KINDS
            .into_iter()
            .filter(|&(_, index)| self.switched_on[index as usize])
            .map(|(kind, _)| kind)
            .collect()
    }

    /// A reader of the switches and ring-buffer drops for another thread
    /// (the metrics endpoint): `(event, on, drops)` per kind.
    pub(super) fn state_reader(
        &self,
    ) -> Result<impl Fn() -> Vec<(&'static str, bool, u64)> + Send + Sync + 'static, MapError> {
        let config: Array<MapData, u32> =
            Array::try_from(aya::maps::Map::Array(dup_map(self.config.map())?))?;
        let drops: PerCpuArray<MapData, u64> =
            PerCpuArray::try_from(aya::maps::Map::PerCpuArray(dup_map(self.drops.map())?))?;
        Ok(move || {
            SYS_KINDS
                .into_iter()
                .map(|(kind, index)| {
                    let on = config.get(&index, 0).unwrap_or(0) != 0;
                    let lost = drops
                        .get(&index, 0)
                        .map(|values| values.iter().copied().sum())
                        .unwrap_or(0);
                    (kind.name(), on, lost)
                })
                .collect()
        })
    }
}

/// The sys kinds among the selected event names.
pub(super) fn selected_kinds<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = names
        .into_iter()
        .filter_map(Kind::named)
        .filter(|kind| SYS_KINDS.iter().any(|(k, _)| k == kind))
        .collect();
    kinds.sort_by_key(|kind| kind.def().id);
    kinds.dedup();
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sys_kind_has_programs_and_only_sys_kinds_are_selected() {
        for (kind, _) in SYS_KINDS {
            assert!(!programs_of(kind).is_empty(), "{kind:?}");
        }
        assert_eq!(
            selected_kinds([
                "ptrace",
                "sched_process_exec",
                "ptrace",
                "security_socket_connect"
            ]),
            [Kind::Ptrace, Kind::SecuritySocketConnect]
        );
        assert!(selected_kinds(["security_file_open", "openat"]).is_empty());
    }
}
