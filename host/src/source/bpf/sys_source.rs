//! The network, process and mount programs (`bpf/sys.bpf.h`): loaded at
//! start, attached only while a loaded signature selects one of their
//! kinds, and each kind switched on in `sys_config` only while selected.
//!
//! They sit on the raw syscall tracepoints (`tp_btf/sys_enter`,
//! `tp_btf/sys_exit`), which, unlike the `syscalls:*` tracepoints (a perf
//! event, `CAP_PERFMON`), can be attached after the daemon dropped its
//! capabilities: so a hot swap attaches and detaches them. While attached
//! they run on every syscall of the machine; detached they cost nothing.
//!
//! `module_load` has its own program on `tp_btf/module_load`, attached
//! only while selected: it runs once per module load. A kernel built
//! without `CONFIG_MODULES` has no such tracepoint; there that program
//! alone is not loaded and `module_load` is not served.

use aya::maps::{Array, IterableMap as _, MapData, MapError, PerCpuArray, RingBuf};
use aya::programs::BtfTracePoint;
use aya::programs::tp_btf::BtfTracePointLinkId;
use aya::{Btf, BtfError, Ebpf};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::sys_record::{SYS_KINDS, c};
use super::{BpfError, attach_error, dup_map, load_error, program, take_map};
use crate::error_chain;
use crate::event::Kind;

const MAP_SYS_EVENTS: &str = "sys_events";
const MAP_SYS_CONFIG: &str = "sys_config";
const MAP_SYS_DROPS: &str = "sys_drops";
pub(super) const MAP_SYS_SCRATCH: &str = "sys_scratch";
/// `(program, raw tracepoint)`, as in `bpf/sys.bpf.h`.
const PROGRAMS: [(&str, &str); 2] = [
    ("sigbox_sys_enter", "sys_enter"),
    ("sigbox_sys_exit", "sys_exit"),
];
/// `module_load`'s program and tracepoint, as in `bpf/module.bpf.h`.
const PROG_MODULE_LOAD: &str = "sigbox_module_load";
const TP_MODULE_LOAD: &str = "module_load";

/// The kinds' ring buffer and switches.
pub(super) struct SysSource {
    pub(super) ring: AsyncFd<RingBuf<MapData>>,
    config: Array<MapData, u32>,
    drops: PerCpuArray<MapData, u64>,
    /// What `config` holds now, by `SYS_KIND_*` index.
    switched_on: [bool; c::SYS_KINDS as usize],
    /// Set while the syscall programs are attached.
    links: Option<Vec<BtfTracePointLinkId>>,
    /// Whether the kernel took `module_load`'s program.
    module_loaded: bool,
    /// Set while `module_load`'s program is attached.
    module_link: Option<BtfTracePointLinkId>,
}

impl SysSource {
    /// Loads the programs (which needs privileges; attaching them later
    /// does not) and takes the maps.
    pub(super) fn load(ebpf: &mut Ebpf, btf: &Btf) -> Result<Self, BpfError> {
        for (name, tracepoint) in PROGRAMS {
            let prog: &mut BtfTracePoint = program(ebpf, name)?;
            prog.load(tracepoint, btf)
                .map_err(|e| load_error(name, e))?;
        }
        let module_loaded = load_module_program(ebpf, btf);
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
            links: None,
            module_loaded,
            module_link: None,
        })
    }

    /// Whether the syscall programs are attached now.
    pub(super) fn attached(&self) -> bool {
        self.links.is_some()
    }

    /// Whether `module_load`'s program is attached now.
    pub(super) fn module_attached(&self) -> bool {
        self.module_link.is_some()
    }

    /// Whether this kernel serves `module_load`.
    pub(super) fn serves_module_load(&self) -> bool {
        self.module_loaded
    }

    /// Attaches the programs `wanted` needs and are not (the syscall ones
    /// for any kind but `module_load`, `module_load`'s for it), switches
    /// exactly `wanted` on, and detaches the programs it no longer needs;
    /// returns whether anything changed.
    pub(super) fn follow(&mut self, ebpf: &mut Ebpf, wanted: &[Kind]) -> Result<bool, BpfError> {
        let syscalls = wanted.iter().any(|&kind| kind != Kind::ModuleLoad);
        let module = self.module_loaded && wanted.contains(&Kind::ModuleLoad);
        if syscalls && self.links.is_none() {
            self.links = Some(attach(ebpf)?);
        }
        if module && self.module_link.is_none() {
            let attached = program::<BtfTracePoint>(ebpf, PROG_MODULE_LOAD)
                .and_then(|prog| prog.attach().map_err(|e| attach_error(PROG_MODULE_LOAD, e)));
            self.module_link = Some(attached?);
        }
        let changed = self.switch(wanted).map_err(|source| BpfError::Map {
            map: MAP_SYS_CONFIG,
            source,
        })?;
        if !syscalls && let Some(links) = self.links.take() {
            detach(ebpf, links);
        }
        if !module && let Some(link) = self.module_link.take() {
            let detached = program::<BtfTracePoint>(ebpf, PROG_MODULE_LOAD).and_then(|prog| {
                prog.detach(link)
                    .map_err(|e| attach_error(PROG_MODULE_LOAD, e))
            });
            if let Err(error) = detached {
                tracing::warn!("detaching: {}", error_chain(&error));
            }
        }
        Ok(changed)
    }

    /// Switches on exactly the kinds in `wanted`; returns whether anything
    /// changed.
    fn switch(&mut self, wanted: &[Kind]) -> Result<bool, MapError> {
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

/// Loads `module_load`'s program; whether the kernel took it. A refusal
/// is logged and leaves every other kind working.
fn load_module_program(ebpf: &mut Ebpf, btf: &Btf) -> bool {
    let loaded = program::<BtfTracePoint>(ebpf, PROG_MODULE_LOAD).and_then(|prog| {
        prog.load(TP_MODULE_LOAD, btf)
            .map_err(|e| load_error(PROG_MODULE_LOAD, e))
    });
    match loaded {
        Ok(()) => true,
        Err(BpfError::Program {
            source: aya::programs::ProgramError::Btf(BtfError::UnknownBtfTypeName { .. }),
            ..
        }) => {
            tracing::warn!(
                "module_load unavailable: this kernel has no module_load tracepoint (built \
                 without CONFIG_MODULES, so no module can be loaded); every other event works"
            );
            false
        }
        Err(error) => {
            tracing::warn!("module_load unavailable: {}", error_chain(&error));
            false
        }
    }
}

fn attach(ebpf: &mut Ebpf) -> Result<Vec<BtfTracePointLinkId>, BpfError> {
    let mut links = Vec::new();
    for (name, _) in PROGRAMS {
        let attached = program::<BtfTracePoint>(ebpf, name)
            .and_then(|prog| prog.attach().map_err(|e| attach_error(name, e)));
        match attached {
            Ok(link) => links.push(link),
            Err(error) => {
                detach(ebpf, links);
                return Err(error);
            }
        }
    }
    Ok(links)
}

/// Detaches the programs; a failure is logged (the switches are off
/// already, so the programs send nothing).
fn detach(ebpf: &mut Ebpf, links: Vec<BtfTracePointLinkId>) {
    for ((name, _), link) in PROGRAMS.into_iter().zip(links) {
        let detached = program::<BtfTracePoint>(ebpf, name)
            .and_then(|prog| prog.detach(link).map_err(|e| attach_error(name, e)));
        if let Err(error) = detached {
            tracing::warn!("detaching: {}", error_chain(&error));
        }
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
    fn only_sys_kinds_are_selected_once_each() {
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
