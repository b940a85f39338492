//! End-to-end tests through the real parts: the release `sigbox` binary, real
//! wasm modules compiled from guest-signatures/, real kernel events. Build
//! first with `make`; `make test` does both.

mod ancestry;
mod author_kit;
mod batch_faults;
mod cli;
mod containers;
mod contract;
mod deploy;
mod detector_packs;
mod exec_fields;
mod file_events;
mod file_pack;
mod file_signatures_live;
mod files;
mod finding_ids;
mod flat_batch;
mod host_work;
mod hotswap;
mod id_claims;
mod inspect;
mod integrity;
mod listener_attack;
mod live;
mod live_sandbox;
mod module_truth;
mod net_events;
mod net_pack;
mod net_signatures_live;
mod operations;
mod pack;
mod pack_live;
mod registry;
mod registry_attack;
mod replay;
mod sandbox;
mod slow_load;
mod stopping;
mod trust;
mod truth;
mod vectors;
