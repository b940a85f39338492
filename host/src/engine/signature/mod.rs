//! One signature: its module file, loading and evaluating it, the event
//! selectors it declared, the event id of its findings, and its errors.

pub(super) mod error;
pub(super) mod finding_ids;
pub(super) mod loaded;
pub(crate) mod module_file;
pub(super) mod pack;
pub(super) mod selector;
