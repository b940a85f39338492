//! The batch a 0.2 or 0.3 guest's `on-events` receives, lowered straight
//! from the host's events: the record types below mirror the contract's
//! `event` and `value` but borrow their strings and lists, so wasmtime
//! copies each one once, from the event into the guest's memory, instead
//! of the host copying it into an owned value first (the generated
//! bindings take owned types).
//!
//! wasmtime checks these types against the guest's by shape when the
//! function is looked up ([`on_events_func`]), so a mismatch with the WIT
//! is an error at load, never a wrong call.

use std::mem::MaybeUninit;

use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{ComponentExportIndex, ComponentType, Instance, Lower, TypedFunc};
use wasmtime::{AsContextMut, StoreContextMut};

use super::bindings::pack::exports::sigbox::signature::detectors::PackOutcome;
use super::bindings::v2::sigbox::signature::types::{Context, Origin, Outcome};
use super::host_state::HostState;
use crate::event::ValueRef;

/// The contract's `value`, borrowed.
#[derive(ComponentType, Lower, Clone, Copy)]
#[component(variant)]
pub enum GuestValue<'a> {
    #[component(name = "none")]
    None,
    #[component(name = "boolean")]
    Boolean(bool),
    #[component(name = "signed")]
    Signed(i64),
    #[component(name = "unsigned")]
    Unsigned(u64),
    #[component(name = "float")]
    Float(f64),
    #[component(name = "text")]
    Text(&'a str),
    #[component(name = "text-list")]
    TextList(&'a [String]),
    #[component(name = "json")]
    Json(&'a str),
}

impl<'a> From<ValueRef<'a>> for GuestValue<'a> {
    fn from(value: ValueRef<'a>) -> Self {
        match value {
            ValueRef::None => Self::None,
            ValueRef::Boolean(b) => Self::Boolean(b),
            ValueRef::Signed(n) => Self::Signed(n),
            ValueRef::Unsigned(n) => Self::Unsigned(n),
            ValueRef::Float(f) => Self::Float(f),
            ValueRef::Text(s) => Self::Text(s),
            ValueRef::TextList(l) => Self::TextList(l),
            ValueRef::Json(s) => Self::Json(s),
        }
    }
}

/// The contract's `event`, its fields borrowed.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct GuestEvent<'a> {
    /// Which selector accepted it.
    pub selector: u32,
    /// The numeric context.
    pub context: GuestContext,
    /// The declared fields' values, in declared order.
    pub fields: &'a [GuestValue<'a>],
}

/// `on-events` typed with the borrowed batch; the lifetime is only the
/// batch's (see [`call_on_events`]).
type OnEvents<'a> = TypedFunc<(&'a [GuestEvent<'a>],), (Vec<Outcome>,)>;

/// A guest's `on-events`, type-checked once when it is instantiated.
#[derive(Clone, Copy)]
pub struct OnEventsFunc(OnEvents<'static>);

/// Looks up `on-events` (at `index`, found in the component once) and
/// checks its type against the borrowed batch's.
///
/// # Errors
/// The guest's function does not have the contract's type.
pub fn on_events_func(
    store: impl AsContextMut<Data = HostState>,
    instance: &Instance,
    index: &ComponentExportIndex,
) -> wasmtime::Result<OnEventsFunc> {
    Ok(OnEventsFunc(instance.get_typed_func(store, index)?))
}

impl OnEventsFunc {
    /// Calls `on-events` with `events`.
    ///
    /// # Errors
    /// A trap or a limit the call ran into.
    pub fn call(
        &self,
        store: StoreContextMut<'_, HostState>,
        events: &[GuestEvent<'_>],
    ) -> wasmtime::Result<Vec<Outcome>> {
        // SAFETY: the function was type-checked against `OnEvents<'static>`
        // in `on_events_func`; lifetimes do not change a type's shape, so the
        // check holds for the batch's lifetime too.
        let typed: OnEvents<'_> = unsafe { TypedFunc::new_unchecked(*self.0.func()) };
        typed.call(store, (events,)).map(|(outcomes,)| outcomes)
    }
}

/// `flat-detector.on-events`: the batch as one buffer (`sigbox_flat`).
type FlatOnEvents<'a> = TypedFunc<(&'a [u8],), (Vec<Outcome>,)>;

/// A guest's `flat-detector.on-events`, type-checked once when it is
/// instantiated.
#[derive(Clone, Copy)]
pub struct FlatOnEventsFunc(FlatOnEvents<'static>);

/// Looks up `flat-detector.on-events` (at `index`) and checks its type.
///
/// # Errors
/// The guest's function does not have the contract's type.
pub fn flat_on_events_func(
    store: impl AsContextMut<Data = HostState>,
    instance: &Instance,
    index: &ComponentExportIndex,
) -> wasmtime::Result<FlatOnEventsFunc> {
    Ok(FlatOnEventsFunc(instance.get_typed_func(store, index)?))
}

impl FlatOnEventsFunc {
    /// Calls it with `batch`, a buffer [`encode_flat`] wrote: one
    /// allocation and one copy in the guest for the whole batch.
    ///
    /// # Errors
    /// A trap or a limit the call ran into.
    pub fn call(
        &self,
        store: StoreContextMut<'_, HostState>,
        batch: &[u8],
    ) -> wasmtime::Result<Vec<Outcome>> {
        // SAFETY: as `OnEventsFunc::call`.
        let typed: FlatOnEvents<'_> = unsafe { TypedFunc::new_unchecked(*self.0.func()) };
        typed.call(store, (batch,)).map(|(outcomes,)| outcomes)
    }
}

/// Encodes `events` into `out` in the flat batch's layout (reusing its
/// allocation): the same events, contexts and values the typed batch
/// carries.
///
/// # Errors
/// The batch does not fit the layout's 32-bit offsets.
pub fn encode_flat(
    out: &mut Vec<u8>,
    events: &[GuestEvent<'_>],
) -> Result<(), sigbox_flat::TooLarge> {
    sigbox_flat::encode(
        out,
        events.iter().map(|event| {
            let fields = event.fields.iter().map(|value| match *value {
                GuestValue::None => sigbox_flat::Item::None,
                GuestValue::Boolean(b) => sigbox_flat::Item::Boolean(b),
                GuestValue::Signed(n) => sigbox_flat::Item::Signed(n),
                GuestValue::Unsigned(n) => sigbox_flat::Item::Unsigned(n),
                GuestValue::Float(f) => sigbox_flat::Item::Float(f),
                GuestValue::Text(text) => sigbox_flat::Item::Text(text),
                GuestValue::TextList(list) => sigbox_flat::Item::TextList(list),
                GuestValue::Json(text) => sigbox_flat::Item::Json(text),
            });
            (event.selector, event.context.bytes(), fields)
        }),
    )
}

/// The `detectors` interface's `acceptance`.
#[derive(ComponentType, Lower, Clone, Copy, Debug, PartialEq, Eq)]
#[component(record)]
pub struct GuestAcceptance {
    /// The detector's index in the pack.
    pub detector: u32,
    /// Its selector that accepted the event.
    pub selector: u32,
}

/// The `detectors` interface's `pack-event`, its lists borrowed.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct GuestPackEvent<'a> {
    /// The numeric context.
    pub context: GuestContext,
    /// The detectors that accepted it.
    pub accepted: &'a [GuestAcceptance],
    /// The values of the pack's field table.
    pub fields: &'a [GuestValue<'a>],
}

/// A pack's `on-events`, typed with the borrowed batch.
type PackOnEvents<'a> = TypedFunc<(&'a [GuestPackEvent<'a>],), (Vec<PackOutcome>,)>;

/// A pack's `on-events`, type-checked once when it is instantiated.
#[derive(Clone, Copy)]
pub struct PackOnEventsFunc(PackOnEvents<'static>);

/// Looks up a pack's `on-events` (at `index`) and checks its type.
///
/// # Errors
/// The guest's function does not have the contract's type.
pub fn pack_on_events_func(
    store: impl AsContextMut<Data = HostState>,
    instance: &Instance,
    index: &ComponentExportIndex,
) -> wasmtime::Result<PackOnEventsFunc> {
    Ok(PackOnEventsFunc(instance.get_typed_func(store, index)?))
}

impl PackOnEventsFunc {
    /// Calls the pack's `on-events` with `events`.
    ///
    /// # Errors
    /// A trap or a limit the call ran into.
    pub fn call(
        &self,
        store: StoreContextMut<'_, HostState>,
        events: &[GuestPackEvent<'_>],
    ) -> wasmtime::Result<Vec<PackOutcome>> {
        // SAFETY: as `OnEventsFunc::call`: checked against the 'static
        // shape, which lifetimes do not change.
        let typed: PackOnEvents<'_> = unsafe { TypedFunc::new_unchecked(*self.0.func()) };
        typed.call(store, (events,)).map(|(outcomes,)| outcomes)
    }
}

/// The contract's `context`, lowered by hand: its 64 bytes are written
/// through one view of the guest's memory, where the derived lowering looks
/// the memory up again for each of its 13 fields (wasmtime's
/// `options_memory_mut`, the largest single cost of lowering a batch). Its
/// type is the generated record's, so it is checked like it.
#[derive(Clone, Copy)]
pub struct GuestContext(pub Context);

/// Byte offsets of the context's fields in the canonical ABI (record
/// layout: each field at the next multiple of its alignment): the flat
/// batch's event records hold the same bytes, so both read one list.
mod layout {
    pub use sigbox_flat::context::*;
    pub const SIZE: usize = sigbox_flat::CONTEXT;
}

// SAFETY: the type, ABI and flat form are the generated `Context`'s, and
// `linear_lower_to_memory` writes exactly its canonical layout (checked by
// `the_context_layout_is_the_generated_records`).
unsafe impl ComponentType for GuestContext {
    type Lower = <Context as ComponentType>::Lower;

    const ABI: CanonicalAbiInfo = <Context as ComponentType>::ABI;
    const MAY_REQUIRE_REALLOC: bool = false;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <Context as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: see the `ComponentType` implementation.
unsafe impl Lower for GuestContext {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut MaybeUninit<Self::Lower>,
    ) -> wasmtime::Result<()> {
        self.0.linear_lower_to_flat(cx, ty, dst)
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        *cx.get::<{ layout::SIZE }>(offset) = self.bytes();
        Ok(())
    }
}

impl GuestContext {
    /// Its canonical ABI bytes (also the flat batch's context).
    pub fn bytes(&self) -> [u8; layout::SIZE] {
        use layout::*;
        let c = &self.0;
        let mut bytes = [0u8; SIZE];
        let mut put = |at: usize, field: &[u8]| bytes[at..at + field.len()].copy_from_slice(field);
        put(TIMESTAMP_NS, &c.timestamp_ns.to_le_bytes());
        put(
            ORIGIN,
            &[match c.origin {
                Origin::Host => 0,
                Origin::Container => 1,
                Origin::ContainerInit => 2,
            }],
        );
        put(PID, &c.pid.to_le_bytes());
        put(TID, &c.tid.to_le_bytes());
        put(PPID, &c.ppid.to_le_bytes());
        put(HOST_PID, &c.host_pid.to_le_bytes());
        put(HOST_TID, &c.host_tid.to_le_bytes());
        put(HOST_PPID, &c.host_ppid.to_le_bytes());
        put(UID, &c.uid.to_le_bytes());
        put(MOUNT_NS, &c.mount_ns.to_le_bytes());
        put(PID_NS, &c.pid_ns.to_le_bytes());
        put(CGROUP_ID, &c.cgroup_id.to_le_bytes());
        put(RETURN_VALUE, &c.return_value.to_le_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_layout_is_the_generated_records() {
        // Each field at the next multiple of its alignment, in WIT order.
        let fields: [(usize, CanonicalAbiInfo); 13] = [
            (layout::TIMESTAMP_NS, <u64 as ComponentType>::ABI),
            (layout::ORIGIN, <Origin as ComponentType>::ABI),
            (layout::PID, <u32 as ComponentType>::ABI),
            (layout::TID, <u32 as ComponentType>::ABI),
            (layout::PPID, <u32 as ComponentType>::ABI),
            (layout::HOST_PID, <u32 as ComponentType>::ABI),
            (layout::HOST_TID, <u32 as ComponentType>::ABI),
            (layout::HOST_PPID, <u32 as ComponentType>::ABI),
            (layout::UID, <u32 as ComponentType>::ABI),
            (layout::MOUNT_NS, <u32 as ComponentType>::ABI),
            (layout::PID_NS, <u32 as ComponentType>::ABI),
            (layout::CGROUP_ID, <u64 as ComponentType>::ABI),
            (layout::RETURN_VALUE, <i64 as ComponentType>::ABI),
        ];
        let mut offset = 0usize;
        for (expected, abi) in fields {
            assert_eq!(abi.next_field32_size(&mut offset), expected);
        }
        assert_eq!(<Context as ComponentType>::SIZE32, layout::SIZE);
        assert_eq!(<Origin as ComponentType>::SIZE32, 1);
        // The flat batch documents the same layout.
        use sigbox_flat::context as flat;
        assert_eq!(
            [
                flat::TIMESTAMP_NS,
                flat::ORIGIN,
                flat::PID,
                flat::TID,
                flat::PPID,
                flat::HOST_PID,
                flat::HOST_TID,
                flat::HOST_PPID,
                flat::UID,
                flat::MOUNT_NS,
                flat::PID_NS,
                flat::CGROUP_ID,
                flat::RETURN_VALUE,
                sigbox_flat::CONTEXT,
            ],
            [
                layout::TIMESTAMP_NS,
                layout::ORIGIN,
                layout::PID,
                layout::TID,
                layout::PPID,
                layout::HOST_PID,
                layout::HOST_TID,
                layout::HOST_PPID,
                layout::UID,
                layout::MOUNT_NS,
                layout::PID_NS,
                layout::CGROUP_ID,
                layout::RETURN_VALUE,
                layout::SIZE,
            ]
        );
    }

    /// The host's encoding of a batch, read back by the decoder the guest
    /// SDK uses: every value, context and selector as the typed batch has
    /// them.
    #[test]
    fn the_flat_batch_reads_back_as_the_typed_batch() {
        use sigbox_flat::{Batch, FieldRef};
        let context = Context {
            timestamp_ns: 1_700_000_000_123,
            origin: Origin::ContainerInit,
            pid: 1,
            tid: 2,
            ppid: 3,
            host_pid: 4,
            host_tid: 5,
            host_ppid: 6,
            uid: 7,
            mount_ns: 8,
            pid_ns: 9,
            cgroup_id: u64::MAX - 1,
            return_value: -2,
        };
        let argv = vec!["sh".to_string(), "-c".into(), "id".into()];
        let values = [
            GuestValue::Text("nginx"),
            GuestValue::TextList(&argv),
            GuestValue::Signed(-5),
            GuestValue::Unsigned(9),
            GuestValue::Boolean(true),
            GuestValue::Float(0.25),
            GuestValue::Json("{}"),
            GuestValue::None,
        ];
        let events = [
            GuestEvent {
                selector: 2,
                context: GuestContext(context),
                fields: &values,
            },
            GuestEvent {
                selector: 0,
                context: GuestContext(context),
                fields: &[],
            },
        ];
        let mut buffer = Vec::new();
        encode_flat(&mut buffer, &events).unwrap();
        let batch = Batch::new(&buffer).unwrap();
        assert_eq!(batch.len(), 2);
        let view = batch.event(0).unwrap();
        assert_eq!(view.selector(), 2);
        assert_eq!(*view.context(), GuestContext(context).bytes());
        assert_eq!(view.context()[sigbox_flat::context::ORIGIN], 2);
        assert_eq!(
            view.context_u64(sigbox_flat::context::CGROUP_ID),
            u64::MAX - 1
        );
        let read: Vec<FieldRef<'_>> = (0..view.len())
            .map(|i| view.field(i).unwrap().unwrap())
            .collect();
        assert_eq!(read[0], FieldRef::Text("nginx"));
        let FieldRef::TextList(texts) = read[1] else {
            panic!("argv is a list: {:?}", read[1]);
        };
        let texts: Vec<&str> = texts.iter().map(Result::unwrap).collect();
        assert_eq!(texts, ["sh", "-c", "id"]);
        assert_eq!(
            read[2..],
            [
                FieldRef::Signed(-5),
                FieldRef::Unsigned(9),
                FieldRef::Boolean(true),
                FieldRef::Float(0.25),
                FieldRef::Json("{}"),
                FieldRef::None,
            ]
        );
        assert!(batch.event(1).unwrap().is_empty());
    }
}
