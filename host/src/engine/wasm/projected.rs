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

use wasmtime::component::{ComponentExportIndex, ComponentType, Instance, Lower, TypedFunc};
use wasmtime::{AsContextMut, StoreContextMut};

use super::bindings::v2::sigbox::signature::types::{Context, Outcome};
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
    pub context: Context,
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
