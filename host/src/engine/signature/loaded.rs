//! One loaded signature: its compiled component, its instance and its metadata.

use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::ComponentExportIndex;
use wasmtime::{AsContextMut, Engine, Store, Trap};

use super::error::{EvalError, LoadError, bounded_message, cause};
use super::finding_ids;
use super::pack::{self, PackEventOutcome, PackItem, PackMember};
use super::selector::Selector;
use crate::engine::wasm::bindings::{self, v1, v2, v3};
use crate::engine::wasm::contract::{self, ContractVersion};
use crate::engine::wasm::epoch::EpochTicker;
use crate::engine::wasm::guest_output::LogBudget;
use crate::engine::wasm::guest_values;
use crate::engine::wasm::host_state::HostState;
use crate::engine::wasm::limits::{Limits, Policy};
use crate::engine::wasm::model::{EventSelector, Finding, Metadata, Signal};
use crate::engine::wasm::projected::{
    self, FlatOnEventsFunc, GuestContext, GuestEvent, GuestValue, OnEventsFunc, PackOnEventsFunc,
};
use crate::engine::wasm::runtime::Runtime;
use crate::event::{Event, Field, Value, ValueRef};

/// What a signature file declares about itself, read at load time.
#[derive(Debug, Clone)]
pub struct SignatureInfo {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Hex sha256 of the file's bytes.
    pub sha256: String,
    /// The signature's metadata.
    pub metadata: Metadata,
    /// The events it selected.
    pub selected_events: Vec<EventSelector>,
    /// The contract version the module was built against.
    pub contract: ContractVersion,
    /// The trusted keys that signed it (empty when loaded unverified).
    pub signed_by: Vec<String>,
    /// The event id its findings carry (see `engine::finding_ids`).
    pub event_id: u32,
}

/// A signature ready to receive events: one store and one instance, reused for
/// every event so that a signature can keep state between events. After a
/// trap the instance is rebuilt fresh from the pre-instantiated component
/// (wasmtime does not let a trapped instance be entered again).
pub struct LoadedSignature {
    info: SignatureInfo,
    /// Its selectors, compiled for the dispatch path.
    selectors: Vec<Selector>,
    pre: Pre,
    engine: Engine,
    ticker: Arc<EpochTicker>,
    limits: Limits,
    config: Vec<Field>,
    output: Arc<LogBudget>,
    /// `None` after a trap whose rebuild failed.
    live: Option<Live>,
    /// Host time spent checking its output since [`Self::take_host_time`].
    host_time: Duration,
    /// A pack's detectors (empty for a signature); `info` is then the
    /// first one's.
    members: Vec<PackMember>,
    /// The length of a pack's field table.
    table_len: usize,
    /// A pack's detectors' ids and configurations, for their `init`s (kept
    /// apart from `members`, which a call borrows while a trap rebuilds).
    member_inits: Vec<(String, Vec<Field>)>,
    /// The flat batch's buffer, its allocation kept from batch to batch.
    flat_batch: Vec<u8>,
}

/// An instance and the store it lives in.
struct Live {
    store: Store<HostState>,
    instance: Instance,
}

/// A component linked against the world it targets. A 0.3 component's
/// `on-events` is also found by index (see [`OnEvents`]).
enum Pre {
    V1(v1::SignaturePre<HostState>),
    V2(v2::SignaturePre<HostState>, ComponentExportIndex),
    /// With `flat-detector.on-events` when the module exports it (and the
    /// runtime uses it).
    V3(
        v3::SignaturePre<HostState>,
        ComponentExportIndex,
        Option<ComponentExportIndex>,
    ),
    Pack(bindings::pack::PackPre<HostState>, ComponentExportIndex),
}

/// An instance of one of the worlds.
enum Instance {
    V1(v1::Signature),
    V2(v2::Signature, OnEventsFunc),
    V3(v3::Signature, OnEventsFunc, Option<FlatOnEventsFunc>),
    Pack(bindings::pack::Pack, PackOnEventsFunc),
}

/// The outcome type, as 0.2 generated it.
type BatchOutcome = v2::sigbox::signature::types::Outcome;

/// Where 0.3 and 0.2 components export their detector. Their `on-events`
/// is called with the borrowed batch types of [`projected`]: 0.3 changed
/// only the selectors, and the component model checks types by shape (when
/// the function is looked up), so batches are built and checked by one
/// code path for both versions.
const DETECTOR_V3: &str = "sigbox:signature/detector@0.3.0";
const DETECTOR_V2: &str = "sigbox:signature/detector@0.2.0";

/// The largest flat batch buffer kept between batches (a batch of 64 exec
/// events with their argv is a few KiB).
const FLAT_BATCH_KEPT: usize = 1 << 20;

/// Where a 0.3 module exports its batch-as-one-buffer `on-events` (see
/// `projected::encode_flat`), preferred when present.
const FLAT_DETECTOR_V3: &str = "sigbox:signature/flat-detector@0.3.0";

/// Where a pack exports its detectors (it exports `detector` too, for
/// hosts without packs, which this host does not call).
const DETECTORS: &str = "sigbox:signature/detectors@0.3.0";

/// A module loaded up to its `init`: instantiated, its metadata read and
/// admitted. Whether it may run under the id it claims is decided before
/// [`Unstarted::start`] hands it the id's configuration.
pub struct Unstarted {
    signature: LoadedSignature,
    tied: bool,
    /// Load budget used before `init` (instantiation, metadata).
    loading_took: Duration,
}

impl Unstarted {
    /// What the module declared about itself.
    pub fn info(&self) -> &SignatureInfo {
        &self.signature.info
    }

    /// A pack's detectors' ids after the first (empty for a signature):
    /// the other ids the file runs under.
    pub(crate) fn other_detector_ids(&self) -> Vec<String> {
        (self.signature.members().iter().skip(1))
            .map(|member| member.info.metadata.id.clone())
            .collect()
    }

    /// Whether the trust policy ties the id it claims to it (see
    /// `trust::Admitted::ties`).
    pub(crate) fn tied(&self) -> bool {
        self.tied
    }

    /// Calls `init` with the id's configuration.
    ///
    /// # Errors
    /// `init` refused, trapped or hit a limit.
    pub(crate) fn start(self) -> Result<LoadedSignature, LoadError> {
        let mut signature = self.signature;
        signature.apply_limits();
        // `init` gets what is left of the one load budget, but at least a
        // quarter of it, so a good module starved while instantiating on a
        // loaded machine is not failed for it.
        let load_time = signature.limits.load_time;
        let left = load_time
            .saturating_sub(self.loading_took)
            .max(load_time / 4);
        signature.init_within(left).map_err(|error| match error {
            InitError::Trap(e) => load_failure(&signature.info.path, "init", e, &signature.limits),
            InitError::Refused(message) => LoadError::Init {
                path: signature.info.path.clone(),
                id: signature.info.metadata.id.clone(),
                message: crate::printable(&bounded_message(message)).into_owned(),
            },
        })?;
        Ok(signature)
    }
}

/// What a signature made of one event of a batch.
pub type EventOutcome = (usize, Result<Vec<Finding>, EvalError>);

/// Events per guest call at most (contract 0.2). Large enough to share the
/// fixed cost of a call, small enough that one batch's work stays short.
pub const MAX_BATCH: usize = 64;

impl LoadedSignature {
    /// Reads, validates, compiles and instantiates the file at `path`, then
    /// reads its metadata and calls `init` with `config`.
    ///
    /// # Errors
    /// A [`LoadError`] naming the file and what is wrong with it.
    pub fn load(runtime: &Runtime, path: &Path, config: &[Field]) -> Result<Self, LoadError> {
        let bytes = super::module_file::read(path, runtime.limits().module_bytes)?;
        Self::from_bytes(runtime, path, &bytes, config)
    }

    /// Like [`LoadedSignature::load`], for bytes already read from `path`,
    /// with the runtime's default limits.
    ///
    /// # Errors
    /// A [`LoadError`] naming `path` and what is wrong with the bytes.
    pub fn from_bytes(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        config: &[Field],
    ) -> Result<Self, LoadError> {
        let mut policy = Policy::uniform(runtime.limits().clone());
        policy.default_config = config.to_vec();
        Self::with_policy(runtime, path, bytes, &policy)
    }

    /// Loads `bytes` (read from `path`) with the limits and configuration
    /// `policy` gives the signature's id.
    ///
    /// # Errors
    /// A [`LoadError`] naming `path` and what is wrong with the bytes.
    pub(crate) fn with_policy(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        policy: &Policy,
    ) -> Result<Self, LoadError> {
        let admitted = crate::trust::Admitted::unverified();
        Self::admitted(runtime, path, bytes, policy, &admitted)
    }

    /// Like [`LoadedSignature::with_policy`], for bytes whose signatures
    /// `admitted` verified: the id the module claims and its digest are
    /// checked against the signers as soon as its metadata is read, before
    /// its `init` runs.
    ///
    /// # Errors
    /// A [`LoadError`] naming `path` and what is wrong with the bytes, or
    /// [`LoadError::Untrusted`].
    pub(crate) fn admitted(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        policy: &Policy,
        admitted: &crate::trust::Admitted<'_>,
    ) -> Result<Self, LoadError> {
        Self::prepare(runtime, path, bytes, policy, admitted)?.start()
    }

    /// Like [`LoadedSignature::admitted`], up to (not including) `init`:
    /// the module's id is known and admitted, and nothing has been given
    /// its configuration yet.
    ///
    /// # Errors
    /// As [`LoadedSignature::admitted`], but for `init`.
    pub(crate) fn prepare(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        policy: &Policy,
        admitted: &crate::trust::Admitted<'_>,
    ) -> Result<Unstarted, LoadError> {
        let path_buf = || path.to_owned();
        check_wasm_header(path, bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = runtime
            .compile(bytes, &sha256)
            .map_err(|e| LoadError::Compile {
                path: path_buf(),
                source: cause(e),
            })?;
        let pre = link(runtime, &component).map_err(|e| LoadError::WrongWorld {
            path: path_buf(),
            source: cause(e),
        })?;

        // The id (and so the signature's own limits) is known only after
        // `get-metadata`; until then the defaults apply. Loading has its own
        // time budget, separate from the per-event one.
        let defaults = &policy.defaults;
        let tag = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        let output = LogBudget::new(
            crate::printable(&tag).into_owned(),
            defaults.log_bytes_per_sec,
        );
        let load_started = std::time::Instant::now();
        let instantiate_now =
            || instantiate(runtime.engine(), runtime.ticker(), &pre, &output, defaults);
        // A failure that is not the module's doing (seen once: EBUSY from
        // the operating system on a loaded machine) must not leave it
        // rejected until its bytes change: anything but a trap or its
        // memory limit is tried once more.
        let (mut store, instance) = instantiate_now()
            .or_else(|error| {
                if !may_pass_again(&error) {
                    return Err(error);
                }
                tracing::warn!(
                    "{}: instantiation failed ({}); trying once more",
                    path.display(),
                    one_line(&error)
                );
                instantiate_now()
            })
            .map_err(|e| load_failure(path, "instantiation", e, defaults))?;
        // Every guest call runs with the epoch ticking, or its deadline
        // would never come.
        let busy = runtime.ticker().busy();
        let described = instance
            .describe(&mut store)
            .map_err(|e| load_failure(path, "get-metadata", e, defaults))?;
        drop(busy);
        let contract = instance.version();
        let metadata_error = |reason| LoadError::Metadata {
            path: path_buf(),
            reason,
        };
        check_members(&described).map_err(metadata_error)?;
        for (metadata, selected_events) in &described {
            guest_values::check_metadata(metadata, selected_events).map_err(|reason| {
                metadata_error(if described.len() > 1 {
                    format!("detector {}: {reason}", metadata.id)
                } else {
                    reason
                })
            })?;
            // A signer must be trusted with every id a pack runs under.
            admitted
                .check_id(&metadata.id, &sha256)
                .map_err(|reason| LoadError::Untrusted {
                    path: path_buf(),
                    reason,
                })?;
        }
        let is_pack = matches!(instance, Instance::Pack(..));
        let table = pack::field_table(described.iter().map(|(_, s)| &s[..]));
        let info_of = |(metadata, selected_events): (Metadata, Vec<EventSelector>)| SignatureInfo {
            path: path_buf(),
            sha256: sha256.clone(),
            event_id: finding_ids::preferred(&metadata.id),
            metadata,
            selected_events,
            contract,
            signed_by: admitted.signer_names(),
        };
        let mut infos: Vec<SignatureInfo> = described.into_iter().map(info_of).collect();
        let members: Vec<PackMember> = if is_pack {
            infos
                .iter()
                .map(|info| {
                    let id = &info.metadata.id;
                    PackMember::new(
                        info.clone(),
                        policy.limits_for(id).clone(),
                        policy.config_for(id).to_vec(),
                        &table,
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let info = infos.swap_remove(0);
        let metadata = &info.metadata;

        let limits = policy.limits_for(&metadata.id).clone();
        let config = policy.config_for(&metadata.id).to_vec();
        // A pack's own output (its log calls, what it prints) cannot be
        // told apart by detector: it is tagged with the file.
        if is_pack {
            output.set_tag(&format!("pack {tag}"));
        } else {
            output.set_tag(&metadata.id);
        }
        let selectors = info.selected_events.iter().map(Selector::new).collect();
        let tied = admitted.ties(&metadata.id);
        let signature = Self {
            info,
            selectors,
            pre,
            engine: runtime.engine().clone(),
            ticker: runtime.ticker().clone(),
            limits,
            config,
            output,
            live: Some(Live { store, instance }),
            host_time: Duration::ZERO,
            member_inits: members
                .iter()
                .map(|m| (m.info.metadata.id.clone(), m.config.clone()))
                .collect(),
            members,
            table_len: table.len(),
            flat_batch: Vec::new(),
        };
        Ok(Unstarted {
            signature,
            tied,
            loading_took: load_started.elapsed(),
        })
    }

    /// Gives its findings another event id: the catalog's, when another
    /// signature id already holds the preferred one.
    pub(crate) fn set_event_id(&mut self, event_id: u32) {
        self.info.event_id = event_id;
        if let Some(first) = self.members.first_mut() {
            first.info.event_id = event_id;
        }
    }

    /// Gives the findings of a pack's detector `member` another event id.
    pub(crate) fn set_member_event_id(&mut self, member: usize, event_id: u32) {
        self.members[member].info.event_id = event_id;
        if member == 0 {
            self.info.event_id = event_id;
        }
    }

    /// The file it runs from is now known by `path` (same bytes).
    pub(crate) fn set_path(&mut self, path: PathBuf) {
        for member in &mut self.members {
            member.info.path = path.clone();
        }
        self.info.path = path;
    }

    /// A pack's detectors; empty for a signature.
    pub(crate) fn members(&self) -> &[PackMember] {
        &self.members
    }

    /// What the signature declared about itself.
    pub fn info(&self) -> &SignatureInfo {
        &self.info
    }

    /// The signature's metadata.
    pub(crate) fn metadata(&self) -> &Metadata {
        &self.info.metadata
    }

    /// The limits this signature runs under.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Host time spent checking its output (findings, outcomes, error
    /// messages) since the last call; the caller charges it to the
    /// signature.
    pub(crate) fn take_host_time(&mut self) -> Duration {
        std::mem::take(&mut self.host_time)
    }

    /// Bytes of log output dropped for exceeding the log budget.
    pub(crate) fn dropped_log_bytes(&self) -> u64 {
        self.output.dropped_bytes()
    }

    /// The index of the first selector that accepts `event` (name, origin
    /// and field filters, checked without calling the guest): the one the
    /// event is delivered under. None if the host never delivers it.
    pub(crate) fn selector_for(&self, event: &Event) -> Option<usize> {
        self.selectors.iter().position(|s| s.accepts(event))
    }

    /// Bytes of linear memory the instance holds: the signature's state
    /// (0 while no instance lives).
    pub(crate) fn memory_bytes(&self) -> u64 {
        self.live
            .as_ref()
            .map_or(0, |live| live.store.data().limiter.memory_bytes())
    }

    /// How many events one call may evaluate: [`MAX_BATCH`] for 0.2
    /// modules, 1 for 0.1 modules (one event per call).
    /// How events reach it: `flat` (a batch as one buffer,
    /// `flat-detector`), `typed` (a batch as a typed list) or `one event`
    /// (0.1, one call per event).
    pub fn batches(&self) -> &'static str {
        match &self.pre {
            Pre::V1(_) => "one event",
            Pre::V3(_, _, Some(_)) => "flat",
            Pre::V2(..) | Pre::V3(..) | Pre::Pack(..) => "typed",
        }
    }

    pub(crate) fn max_batch(&self) -> usize {
        match self.pre {
            Pre::V1(_) => 1,
            Pre::V2(..) | Pre::V3(..) | Pre::Pack(..) => MAX_BATCH,
        }
    }

    /// Evaluates a batch of at most [`Self::max_batch`] events, each with
    /// the index of the selector that accepted it. Returns an outcome for
    /// each event that gave findings or an error, in event order.
    ///
    /// # Errors
    /// A fault (trap, limit hit, instance that could not be rebuilt) that
    /// ended the call: no event of the batch counts as evaluated. A trap or
    /// CPU, memory or stack limit hit rebuilds the instance first.
    pub(crate) fn on_events(
        &mut self,
        batch: &[(&Arc<Event>, usize)],
    ) -> Result<Vec<EventOutcome>, EvalError> {
        if matches!(self.pre, Pre::V1(_)) {
            return batch
                .iter()
                .enumerate()
                .map(|(index, (event, _))| self.on_event_v1(event).map(|r| (index, r)))
                .filter(|r| !matches!(r, Ok((_, Ok(f))) if f.is_empty()))
                .collect();
        }
        let outcomes = self.call_batch(batch)?;
        let checking = Instant::now();
        let checked = self.checked_outcomes(outcomes, batch.len());
        self.host_time += checking.elapsed();
        checked
    }

    /// One `on-events` call of a 0.2 or 0.3 module: the batch is
    /// projected into borrowed values ([`projected`]) and lowered from the
    /// events themselves.
    fn call_batch(
        &mut self,
        batch: &[(&Arc<Event>, usize)],
    ) -> Result<Vec<BatchOutcome>, EvalError> {
        let selectors = &self.selectors;
        let fields = |selector: usize| selectors[selector].fields();
        // The ancestors' names are the one field held in another shape: made
        // into lists first, so every value can borrow from an event or here.
        let lists: Vec<Value> = batch
            .iter()
            .flat_map(|(event, selector)| {
                fields(*selector)
                    .iter()
                    .filter(|field| !field.borrows())
                    .map(|field| field.value(event))
            })
            .collect();
        let mut lists_left = lists.iter();
        let count = batch.iter().map(|(_, s)| fields(*s).len()).sum();
        let mut values: Vec<GuestValue<'_>> = Vec::with_capacity(count);
        for (event, selector) in batch {
            for field in fields(*selector) {
                values.push(match field.value_ref(event) {
                    Some(value) => value.into(),
                    None => lists_left
                        .next()
                        .map_or(GuestValue::None, |list| ValueRef::from(list).into()),
                });
            }
        }
        let mut values_left = &values[..];
        let events: Vec<GuestEvent<'_>> = batch
            .iter()
            .map(|(event, selector)| {
                let (fields, rest) = values_left.split_at(fields(*selector).len());
                values_left = rest;
                GuestEvent {
                    selector: *selector as u32,
                    context: GuestContext(contract::context_to_v2(event)),
                    fields,
                }
            })
            .collect();
        let calls = batch.len() as u64;
        // A module with `flat-detector` gets the batch as one buffer; the
        // host only writes it (the guest checks what it reads).
        let mut flat = std::mem::take(&mut self.flat_batch);
        let flat_ready = matches!(
            &self.live,
            Some(Live {
                instance: Instance::V3(_, _, Some(_)),
                ..
            })
        ) && projected::encode_flat(&mut flat, &events).is_ok();
        let result = self.call(calls, |instance, store| {
            // `read-field` and `ancestors` reach the events through this
            // list; its allocation is kept from batch to batch.
            (store.data_mut().batch).extend(batch.iter().map(|(event, _)| Arc::clone(event)));
            let result = match instance {
                Instance::V3(_, _, Some(flat_on_events)) if flat_ready => {
                    flat_on_events.call(store.as_context_mut(), &flat)
                }
                Instance::V2(_, on_events) | Instance::V3(_, on_events, _) => {
                    on_events.call(store.as_context_mut(), &events)
                }
                Instance::V1(_) => unreachable!("a 0.1 module gets one event per call"),
                Instance::Pack(..) => unreachable!("a pack is called with a pack's batch"),
            };
            store.data_mut().batch.clear();
            result
        });
        // Kept for the next batch, unless an unusual one made it large.
        if flat.capacity() <= FLAT_BATCH_KEPT {
            self.flat_batch = flat;
        }
        result
    }

    /// Evaluates a batch of a pack's events, each with the detectors that
    /// accepted it, in one call; the CPU budget is one event's per
    /// detector per event. Returns what each detector made of each event
    /// (findings or its error), in (event, detector) order.
    ///
    /// # Errors
    /// A fault that ended the call (as [`Self::on_events`]): no detector's
    /// outcome of the batch is known.
    pub(crate) fn on_pack_events(
        &mut self,
        batch: &[PackItem<'_>],
    ) -> Result<Vec<PackEventOutcome>, EvalError> {
        let acceptances: usize = batch.iter().map(|(_, accepted)| accepted.len()).sum();
        let outcomes = self.call_pack(batch, acceptances as u64)?;
        let checking = Instant::now();
        let checked = pack::checked(&self.members, batch, outcomes);
        self.host_time += checking.elapsed();
        checked
    }

    /// Evaluates `event` by the pack's detector `member` alone, under its
    /// selector `selector` (`sigbox test`).
    ///
    /// # Errors
    /// As [`Self::on_pack_events`].
    pub(crate) fn on_detector_event(
        &mut self,
        member: usize,
        event: &Arc<Event>,
        selector: usize,
    ) -> Result<Vec<PackEventOutcome>, EvalError> {
        let accepted = [projected::GuestAcceptance {
            detector: member as u32,
            selector: selector as u32,
        }];
        self.on_pack_events(&[(event, &accepted[..])])
    }

    /// One `on-events` call of a pack.
    fn call_pack(
        &mut self,
        batch: &[PackItem<'_>],
        acceptances: u64,
    ) -> Result<Vec<bindings::pack::exports::sigbox::signature::detectors::PackOutcome>, EvalError>
    {
        let members = std::mem::take(&mut self.members);
        let table_len = self.table_len;
        let result = pack::with_projected(&members, table_len, batch, |events| {
            // Time: the batch's events, as for any one module (a spinning
            // detector cannot hold the worker longer than a signature can);
            // output: every acceptance's findings.
            self.call_budgeted(batch.len() as u64, acceptances, |instance, store| {
                (store.data_mut().batch).extend(batch.iter().map(|(event, _)| Arc::clone(event)));
                let result = match instance {
                    Instance::Pack(_, on_events) => on_events.call(store.as_context_mut(), events),
                    _ => unreachable!("only a pack is called with a pack's batch"),
                };
                store.data_mut().batch.clear();
                result
            })
        });
        self.members = members;
        result
    }

    /// Tells a pack's detector `member` something happened to the stream.
    ///
    /// # Errors
    /// The detector's own error or a trap.
    pub(crate) fn on_member_signal(
        &mut self,
        member: usize,
        signal: Signal,
    ) -> Result<(), EvalError> {
        let result = self.call(1, |instance, store| match instance {
            Instance::Pack(i, _) => i.sigbox_signature_detectors().call_on_signal(
                store,
                member as u32,
                contract::to_v3::signal_out(signal),
            ),
            _ => unreachable!("only a pack has detectors"),
        });
        result.and_then(|returned| {
            returned.map_err(|message| EvalError::Returned(bounded_message(message)))
        })
    }

    /// The outcomes of a 0.2 call, each checked: findings held to the
    /// limits, error messages cut to their first KiB.
    fn checked_outcomes(
        &self,
        outcomes: Vec<BatchOutcome>,
        batch: usize,
    ) -> Result<Vec<EventOutcome>, EvalError> {
        self.check_outcomes(&outcomes, batch)?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| {
                let result = match outcome.findings {
                    Ok(findings) => {
                        let findings: Vec<Finding> = findings
                            .into_iter()
                            .map(contract::to_v2::finding_in)
                            .collect();
                        self.check_findings(&findings).map(|()| findings)
                    }
                    Err(message) => Err(EvalError::Returned(bounded_message(message))),
                };
                (outcome.event as usize, result)
            })
            .collect())
    }

    /// One event through a 0.1 module's `on-event`: the signature's own
    /// result, or a fault.
    fn on_event_v1(&mut self, event: &Event) -> Result<Result<Vec<Finding>, EvalError>, EvalError> {
        let record = contract::event_to_v1(event);
        let returned = self.call(1, |instance, store| {
            let Instance::V1(instance) = instance else {
                unreachable!("a 0.1 component has a 0.1 instance")
            };
            instance
                .sigbox_signature_detector()
                .call_on_event(store, &record)
        })?;
        let checking = Instant::now();
        let checked = match returned {
            Ok(findings) => {
                let findings: Vec<Finding> = findings
                    .into_iter()
                    .map(contract::to_v1::finding_in)
                    .collect();
                self.check_findings(&findings).map(|()| findings)
            }
            Err(message) => Err(EvalError::Returned(bounded_message(message))),
        };
        self.host_time += checking.elapsed();
        Ok(checked)
    }

    /// Outcomes must name events of the batch, in increasing order: a module
    /// that breaks this is faulty (the host cannot tell which event a
    /// finding belongs to).
    fn check_outcomes(&self, outcomes: &[BatchOutcome], batch: usize) -> Result<(), EvalError> {
        let mut next = 0;
        for outcome in outcomes {
            let index = outcome.event as usize;
            if index < next || index >= batch {
                return Err(EvalError::LimitHit {
                    limit: "outcomes",
                    detail: format!(
                        "returned an outcome for event {index} of a batch of {batch} (positions must increase and stay in the batch)"
                    ),
                });
            }
            next = index + 1;
        }
        Ok(())
    }

    /// Tells the signature something happened to the stream.
    ///
    /// # Errors
    /// The signature's own error or a trap.
    pub(crate) fn on_signal(&mut self, signal: Signal) -> Result<(), EvalError> {
        let result = self.call(1, |instance, store| match instance {
            Instance::V1(i) => i
                .sigbox_signature_detector()
                .call_on_signal(store, contract::to_v1::signal_out(signal)),
            Instance::V2(i, _) => i
                .sigbox_signature_detector()
                .call_on_signal(store, contract::to_v2::signal_out(signal)),
            Instance::V3(i, ..) => i
                .sigbox_signature_detector()
                .call_on_signal(store, contract::to_v3::signal_out(signal)),
            Instance::Pack(..) => unreachable!("a pack's detectors are signalled one by one"),
        });
        result.and_then(|returned| {
            returned.map_err(|message| EvalError::Returned(bounded_message(message)))
        })
    }

    /// Calls into the guest under the CPU budget of `events` events;
    /// classifies failures and rebuilds the instance when a failure left it
    /// unusable.
    fn call<R>(
        &mut self,
        events: u64,
        f: impl FnOnce(&Instance, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, EvalError> {
        self.call_budgeted(events, events, f)
    }

    /// [`Self::call`] with the time of `cpu_events` events and the output
    /// of `output_events` (a pack's call: its events' time, as any one
    /// module's, and the output of every detector that accepted them).
    fn call_budgeted<R>(
        &mut self,
        cpu_events: u64,
        output_events: u64,
        f: impl FnOnce(&Instance, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, EvalError> {
        let Some(live) = self.live.as_mut() else {
            // A previous rebuild failed; try again, it may have been transient.
            self.rebuild()?;
            return self.call_budgeted(cpu_events, output_events, f);
        };
        let ticks = self.limits.cpu_ticks().saturating_mul(cpu_events.max(1));
        live.store.data_mut().watchdog.start(ticks);
        live.store.set_epoch_deadline(ticks);
        // Bounds what wasmtime copies out of the guest for this call (its
        // results, and each host call it makes) before copying it.
        let events_held = usize::try_from(output_events.max(1)).unwrap_or(usize::MAX);
        live.store
            .set_hostcall_fuel(self.limits.output_bytes_for(events_held));
        let busy = self.ticker.busy();
        let result = f(&live.instance, &mut live.store);
        drop(busy);
        result.map_err(|error| {
            let error = classify(error, &self.limits, events_held);
            if error.poisons_instance()
                && let Err(rebuild) = self.rebuild()
            {
                tracing::error!(
                    signature = %self.info.metadata.id,
                    "cannot rebuild the instance after a trap: {}",
                    crate::error_chain(&rebuild)
                );
            }
            error
        })
    }

    /// The log budget its output (and its errors) go through.
    pub(crate) fn log_budget(&self) -> &Arc<LogBudget> {
        &self.output
    }

    /// Starts over with a fresh instance (after a quarantine ends).
    ///
    /// # Errors
    /// Instantiation or `init` failed.
    pub(crate) fn restart(&mut self) -> Result<(), EvalError> {
        self.rebuild()
    }

    /// Replaces the instance with a fresh one and runs `init` again.
    fn rebuild(&mut self) -> Result<(), EvalError> {
        self.live = None;
        let (store, instance) = instantiate(
            &self.engine,
            &self.ticker,
            &self.pre,
            &self.output,
            &self.limits,
        )
        .map_err(|e| EvalError::Unavailable(cause(e)))?;
        self.live = Some(Live { store, instance });
        match self.init() {
            Ok(()) => Ok(()),
            Err(error) => {
                self.live = None;
                Err(EvalError::Unavailable(match error {
                    InitError::Trap(e) => cause(e),
                    InitError::Refused(message) => bounded_message(message).into(),
                }))
            }
        }
    }

    fn apply_limits(&mut self) {
        if let Some(live) = self.live.as_mut() {
            live.store.data_mut().limiter.set_limits(&self.limits);
        }
    }

    fn init(&mut self) -> Result<(), InitError> {
        self.init_within(self.limits.load_time)
    }

    /// Runs `init` with `budget` left of the load time limit.
    fn init_within(&mut self, budget: std::time::Duration) -> Result<(), InitError> {
        let live = self.live.as_mut().expect("init runs on a live instance");
        let ticks = crate::engine::wasm::limits::ticks(budget);
        live.store.data_mut().watchdog.start_measured(ticks);
        live.store.set_epoch_deadline(ticks);
        let _busy = self.ticker.busy();
        let store = &mut live.store;
        let result = match &live.instance {
            Instance::V1(i) => i
                .sigbox_signature_detector()
                .call_init(store, &contract::to_v1::fields_out(&self.config)),
            Instance::V2(i, _) => i
                .sigbox_signature_detector()
                .call_init(store, &contract::to_v2::fields_out(&self.config)),
            Instance::V3(i, ..) => i
                .sigbox_signature_detector()
                .call_init(store, &contract::to_v3::fields_out(&self.config)),
            Instance::Pack(i, _) => {
                // Every detector with its own id's configuration; the first
                // refusal stops the pack, naming the detector.
                let detectors = i.sigbox_signature_detectors();
                let mut result = Ok(Ok(()));
                for (index, (id, config)) in self.member_inits.iter().enumerate() {
                    let config = contract::to_v3::fields_out(config);
                    result = detectors
                        .call_init(&mut *store, index as u32, &config)
                        .map(|r| r.map_err(|m| format!("detector {id}: {m}")));
                    if !matches!(result, Ok(Ok(()))) {
                        break;
                    }
                }
                result
            }
        };
        result.map_err(InitError::Trap)?.map_err(InitError::Refused)
    }

    /// Holds findings to the per-event count and per-finding size limits,
    /// then checks their keys: the cheap bounds first, so an oversized
    /// output is refused before its keys are looked at.
    fn check_findings(&self, findings: &[Finding]) -> Result<(), EvalError> {
        check_findings(findings, &self.limits)
    }
}

/// A pack declares at least one detector, each id once.
fn check_members(described: &[(Metadata, Vec<EventSelector>)]) -> Result<(), String> {
    if described.is_empty() {
        return Err("a pack with no detectors".into());
    }
    for (index, (metadata, _)) in described.iter().enumerate() {
        if described[..index].iter().any(|(m, _)| m.id == metadata.id) {
            return Err(format!(
                "two detectors of the pack claim id {}",
                metadata.id
            ));
        }
    }
    Ok(())
}

/// See [`LoadedSignature::check_findings`].
pub(super) fn check_findings(findings: &[Finding], limits: &Limits) -> Result<(), EvalError> {
    if findings.len() > limits.findings_per_event {
        return Err(EvalError::LimitHit {
            limit: "findings",
            detail: format!(
                "{} findings for one event (at most {}; raise with findings_per_event)",
                findings.len(),
                limits.findings_per_event
            ),
        });
    }
    if let Some(size) = findings
        .iter()
        .map(guest_values::finding_bytes)
        .find(|&size| size > limits.finding_bytes)
    {
        return Err(EvalError::LimitHit {
            limit: "finding size",
            detail: format!(
                "a finding of {size} bytes (at most {}; raise with finding_kib)",
                limits.finding_bytes
            ),
        });
    }
    if let Some(error) = findings
        .iter()
        .find_map(|f| guest_values::check_finding(f).err())
    {
        return Err(EvalError::LimitHit {
            limit: "finding",
            detail: crate::printable(&error).into_owned(),
        });
    }
    Ok(())
}

/// Links `component` against the world it targets: 0.3, else 0.2, else 0.1.
fn link(runtime: &Runtime, component: &wasmtime::component::Component) -> wasmtime::Result<Pre> {
    let instance_pre = runtime.linker().instantiate_pre(component)?;
    let on_events = |detector: &str| {
        component
            .get_export_index(None, detector)
            .and_then(|detector| component.get_export_index(Some(&detector), "on-events"))
            .ok_or_else(|| wasmtime::format_err!("{detector} exports no on-events"))
    };
    if component.get_export_index(None, DETECTORS).is_some() {
        let pre = bindings::pack::PackPre::new(instance_pre)?;
        return Ok(Pre::Pack(pre, on_events(DETECTORS)?));
    }
    if let Ok(pre) = v3::SignaturePre::new(instance_pre.clone()) {
        let flat = runtime
            .flat_batches()
            .then(|| on_events(FLAT_DETECTOR_V3).ok())
            .flatten();
        return Ok(Pre::V3(pre, on_events(DETECTOR_V3)?, flat));
    }
    match v2::SignaturePre::new(instance_pre.clone()) {
        Ok(pre) => Ok(Pre::V2(pre, on_events(DETECTOR_V2)?)),
        Err(v2_error) => v1::SignaturePre::new(instance_pre)
            .map(Pre::V1)
            .map_err(|_| v2_error.context("exports no sigbox:signature/detector of 0.3.0, 0.2.0 or 0.1.0 as the contract defines it")),
    }
}

impl Instance {
    fn version(&self) -> ContractVersion {
        match self {
            Self::V1(_) => ContractVersion::V0_1,
            Self::V2(..) => ContractVersion::V0_2,
            Self::V3(..) => ContractVersion::V0_3,
            Self::Pack(..) => ContractVersion::V0_3Pack,
        }
    }

    /// What the module declares: one (metadata, selectors) for a
    /// signature, one per detector for a pack.
    fn describe(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Vec<(Metadata, Vec<EventSelector>)>> {
        if let Self::Pack(i, _) = self {
            let members = i.sigbox_signature_detectors().call_members(store)?;
            return Ok(members
                .into_iter()
                .map(|m| {
                    (
                        contract::to_v3::metadata_in(m.metadata),
                        m.selected_events
                            .into_iter()
                            .map(contract::selector_from_v3)
                            .collect(),
                    )
                })
                .collect());
        }
        let metadata = self.get_metadata(store)?;
        Ok(vec![(metadata, self.selected_events(store)?)])
    }

    fn get_metadata(&self, store: &mut Store<HostState>) -> wasmtime::Result<Metadata> {
        match self {
            Self::V1(i) => i
                .sigbox_signature_detector()
                .call_get_metadata(store)
                .map(contract::to_v1::metadata_in),
            Self::V2(i, _) => i
                .sigbox_signature_detector()
                .call_get_metadata(store)
                .map(contract::to_v2::metadata_in),
            Self::V3(i, ..) => i
                .sigbox_signature_detector()
                .call_get_metadata(store)
                .map(contract::to_v3::metadata_in),
            Self::Pack(..) => unreachable!("a pack describes itself in `describe`"),
        }
    }

    fn selected_events(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Vec<EventSelector>> {
        match self {
            Self::V1(i) => i
                .sigbox_signature_detector()
                .call_selected_events(store)
                .map(|s| s.into_iter().map(contract::selector_from_v1).collect()),
            Self::V2(i, _) => i
                .sigbox_signature_detector()
                .call_selected_events(store)
                .map(|s| s.into_iter().map(contract::selector_from_v2).collect()),
            Self::V3(i, ..) => i
                .sigbox_signature_detector()
                .call_selected_events(store)
                .map(|s| s.into_iter().map(contract::selector_from_v3).collect()),
            Self::Pack(..) => unreachable!("a pack describes itself in `describe`"),
        }
    }
}

enum InitError {
    Trap(wasmtime::Error),
    Refused(String),
}

/// A fresh store and instance under `limits`.
fn instantiate(
    engine: &Engine,
    ticker: &EpochTicker,
    pre: &Pre,
    output: &Arc<LogBudget>,
    limits: &Limits,
) -> wasmtime::Result<(Store<HostState>, Instance)> {
    let mut store = Store::new(engine, HostState::new(output.clone(), limits));
    store.limiter(|state| &mut state.limiter);
    store.epoch_deadline_callback(crate::engine::wasm::watchdog::on_deadline);
    // Instantiation, get-metadata and selected-events share the load budget.
    let ticks = limits.load_ticks();
    store.data_mut().watchdog.start_measured(ticks);
    store.set_epoch_deadline(ticks);
    let _busy = ticker.busy();
    let instance = match pre {
        Pre::V1(pre) => Instance::V1(pre.instantiate(&mut store)?),
        Pre::V2(pre, on_events) => {
            let instance = pre.instance_pre().instantiate(&mut store)?;
            let signature = v2::Signature::new(&mut store, &instance)?;
            let on_events = projected::on_events_func(&mut store, &instance, on_events)?;
            Instance::V2(signature, on_events)
        }
        Pre::V3(pre, on_events, flat) => {
            let instance = pre.instance_pre().instantiate(&mut store)?;
            let signature = v3::Signature::new(&mut store, &instance)?;
            let on_events = projected::on_events_func(&mut store, &instance, on_events)?;
            let flat = flat
                .as_ref()
                .map(|flat| projected::flat_on_events_func(&mut store, &instance, flat))
                .transpose()?;
            Instance::V3(signature, on_events, flat)
        }
        Pre::Pack(pre, on_events) => {
            let instance = pre.instance_pre().instantiate(&mut store)?;
            let pack = bindings::pack::Pack::new(&mut store, &instance)?;
            let on_events = projected::pack_on_events_func(&mut store, &instance, on_events)?;
            Instance::Pack(pack, on_events)
        }
    };
    Ok((store, instance))
}

/// Whether a failed instantiation may be the operating system's doing (an
/// mmap refused under load) rather than the module's: not a trap, not its
/// memory limit.
fn may_pass_again(error: &wasmtime::Error) -> bool {
    error.downcast_ref::<Trap>().is_none() && !is_memory_limit(error)
}

/// Names the limit a failed call of `events` events ran into, if it was one.
fn classify(error: wasmtime::Error, limits: &Limits, events: usize) -> EvalError {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return EvalError::LimitHit {
                limit: "cpu",
                detail: format!(
                    "was still using the CPU past its time limit of {:?} (raise with --cpu-limit-ms or cpu_ms)",
                    limits.cpu_per_event
                ),
            };
        }
        Some(Trap::StackOverflow) => {
            return EvalError::LimitHit {
                limit: "stack",
                detail: format!(
                    "used more than {} KiB of stack (raise with stack_kib)",
                    limits.wasm_stack_bytes >> 10
                ),
            };
        }
        _ => {}
    }
    if is_output_limit(&error) {
        return EvalError::LimitHit {
            limit: "output",
            detail: format!(
                "handed the host more than {} bytes of results for {events} event(s) \
                 (2 x findings_per_event x finding_kib + 64 KiB each, 64 MiB a call)",
                limits.output_bytes_for(events)
            ),
        };
    }
    // The store limiter refuses growth past the memory limit by trapping
    // (`trap_on_grow_failure`) with this message.
    if is_memory_limit(&error) {
        return EvalError::LimitHit {
            limit: "memory",
            detail: format!(
                "tried to grow past {} MiB (raise with --memory-limit-mib or memory_mib)",
                limits.memory_bytes >> 20
            ),
        };
    }
    tracing::debug!("trap: {error:?}");
    EvalError::Trap(one_line(&error))
}

/// A trap's one-line description (the wasm backtrace is left to debug
/// logs), or for a host error its innermost cause; escaped and bounded.
fn one_line(error: &wasmtime::Error) -> String {
    let reason = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error
            .chain()
            .last()
            .map_or_else(|| error.to_string(), ToString::to_string),
    };
    let first_line = reason.lines().next().unwrap_or_default();
    crate::printable(&bounded_message(first_line.to_owned())).into_owned()
}

/// Whether wasmtime stopped copying a guest's data out because it passed
/// the store's hostcall fuel (see [`Limits::output_bytes_per_event`]); its
/// error type is private, so it is known by its message.
fn is_output_limit(error: &wasmtime::Error) -> bool {
    format!("{error:?}").contains("fuel allocated for hostcalls has been exhausted")
}

/// Whether wasmtime refused memory growth because of the store limiter (it
/// traps with this message, `trap_on_grow_failure`), or refused an initial
/// memory larger than the limit at instantiation.
fn is_memory_limit(error: &wasmtime::Error) -> bool {
    let text = format!("{error:?}");
    text.contains("forcing trap when growing memory")
        || text.contains("memory minimum size")
        || text.contains("exceeds memory limits")
}

/// A load-time failure: a limit hit names the limit, its value and the
/// option that raises it; anything else is a trap in `stage`.
fn load_failure(
    path: &Path,
    stage: &'static str,
    error: wasmtime::Error,
    limits: &Limits,
) -> LoadError {
    let limit = match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Some(format!(
            "load time limit of {:?} (raise with load_s in the config file's [limits])",
            limits.load_time
        )),
        _ if is_memory_limit(&error) => Some(format!(
            "memory limit of {} MiB (raise with --memory-limit-mib or memory_mib)",
            limits.memory_bytes >> 20
        )),
        _ => None,
    };
    match limit {
        Some(limit) => LoadError::LoadLimit {
            path: path.to_owned(),
            stage,
            limit,
        },
        None => {
            tracing::debug!("{stage} of {}: {error:?}", path.display());
            LoadError::Trap {
                path: path.to_owned(),
                stage,
                source: one_line(&error).into(),
            }
        }
    }
}

/// Tells a non-wasm file and a core module apart from a component before
/// wasmtime's less specific parse errors.
fn check_wasm_header(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    if !bytes.starts_with(MAGIC) {
        return Err(LoadError::NotWasm {
            path: path.to_owned(),
        });
    }
    // Bytes 4..8: a core module has version 1, layer 0; a component has layer 1.
    if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
        return Err(LoadError::CoreModule {
            path: path.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    fn finding(keys: impl IntoIterator<Item = String>) -> Finding {
        Finding {
            data: keys
                .into_iter()
                .map(|name| Field {
                    name,
                    value: Value::Text(String::new()),
                })
                .collect(),
        }
    }

    fn limit_of(result: Result<(), EvalError>) -> &'static str {
        match result {
            Err(EvalError::LimitHit { limit, .. }) => limit,
            other => panic!("not a limit hit: {other:?}"),
        }
    }

    #[test]
    fn many_distinct_keys_within_the_size_limit_pass() {
        let keys = (0..12_000).map(|k| format!("k{k}"));
        check_findings(&[finding(keys)], &Limits::default()).unwrap();
    }

    #[test]
    fn a_repeated_key_among_many_is_refused() {
        let keys = (0..12_000).map(|k| format!("k{k}")).chain(["k6000".into()]);
        assert_eq!(
            limit_of(check_findings(&[finding(keys)], &Limits::default())),
            "finding"
        );
    }

    #[test]
    fn the_cheap_bounds_refuse_before_any_key_is_read() {
        // Repeated keys everywhere: were the keys read first, the error
        // would name a repeat.
        let repeats = || finding(std::iter::repeat_n("k".to_owned(), 70_000));
        assert_eq!(
            limit_of(check_findings(&[repeats()], &Limits::default())),
            "finding size"
        );
        let limits = Limits {
            findings_per_event: 2,
            ..Limits::default()
        };
        let small = || finding(["a".to_owned(), "a".to_owned()]);
        assert_eq!(
            limit_of(check_findings(&[small(), small(), small()], &limits)),
            "findings"
        );
    }
}
