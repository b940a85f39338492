//! Errors from loading and running signatures.

use std::path::PathBuf;

/// A boxed error cause (wasmtime's errors are converted into this form).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Converts a wasmtime error into a boxed cause that keeps its chain.
pub(crate) fn cause(error: wasmtime::Error) -> BoxError {
    error.into_boxed_dyn_error()
}

/// Why a file could not be loaded as a signature.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read file")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The path is not a regular file (a FIFO, a device, a directory, …).
    #[error("{path}: {kind}, not a regular file")]
    NotRegular { path: PathBuf, kind: &'static str },
    /// The file is larger than the module size limit.
    #[error(
        "{path}: {size} bytes, larger than the module size limit of {max} bytes (raise with module_mib in the config file's [limits])"
    )]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    /// The file ends before its own section headers say it should: it was
    /// cut short, or is still being written.
    #[error(
        "{path}: truncated: the file is {size} bytes, its sections need at least {needed} (still being copied? copy it to a temporary name in the directory, then rename it into place)"
    )]
    Truncated {
        path: PathBuf,
        size: u64,
        needed: u64,
    },
    /// The file is not WebAssembly at all.
    #[error("{path}: not a WebAssembly file (no \\0asm header)")]
    NotWasm { path: PathBuf },
    /// The file is a core module, not a component.
    #[error(
        "{path}: a core WebAssembly module, not a component; build signatures for wasm32-wasip2"
    )]
    CoreModule { path: PathBuf },
    /// wasmtime rejected the component (truncated, malformed, unsupported).
    #[error("{path}: invalid component")]
    Compile {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    /// The component does not implement the `sigbox:signature/signature` world
    /// (an import the host does not offer, or a missing or mistyped export).
    #[error("{path}: does not implement the sigbox:signature@0.1.0 world")]
    WrongWorld {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    /// Instantiation or one of the load-time calls (`metadata`,
    /// `selected-events`) trapped.
    #[error("{path}: failed during {stage}")]
    Trap {
        path: PathBuf,
        stage: &'static str,
        #[source]
        source: BoxError,
    },
    /// Loading ran into one of the signature's limits.
    #[error("{path}: {stage} exceeded the {limit}")]
    LoadLimit {
        path: PathBuf,
        stage: &'static str,
        /// The limit, its value and the option that raises it.
        limit: String,
    },
    /// The metadata is unusable (for example an empty id).
    #[error("{path}: invalid metadata: {reason}")]
    Metadata { path: PathBuf, reason: String },
    /// The signature's `init` returned an error.
    #[error("{path}: signature {id} refused to initialise: {message}")]
    Init {
        path: PathBuf,
        id: String,
        message: String,
    },
    /// The trust policy refuses the module (unsigned, tampered, an unknown
    /// key, an id its signers may not ship, a digest not pinned).
    #[error("{path}: refused by the trust policy: {reason}")]
    Untrusted {
        path: PathBuf,
        reason: crate::trust::TrustError,
    },
    /// `sigbox pull` refused a version meant for this file (its record
    /// beside the file says which and why); the file was not changed.
    #[error("{path}: sigbox pull refused {reference}: {reason}; the file was not changed")]
    PullRefused {
        path: PathBuf,
        reference: String,
        reason: String,
    },
    /// Another file claims this signature id and keeps it, or the claim is
    /// contested (see `engine::reload::id_claims`); the reason names every file.
    #[error("{reason}")]
    IdClaimed { path: PathBuf, reason: String },
}

/// Why one signature failed to evaluate one event.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The signature returned an error for this event.
    #[error("signature returned an error: {0}")]
    Returned(String),
    /// The guest trapped (a panic, `unreachable`, a bad memory access, …):
    /// the trap's one-line description (the wasm backtrace is logged at debug).
    #[error("signature trapped: {0}")]
    Trap(String),
    /// The guest hit one of its resource limits.
    #[error("signature exceeded its {limit} limit: {detail}")]
    LimitHit {
        /// Which limit: `cpu`, `memory`, `stack`, `findings`, `finding size`.
        limit: &'static str,
        /// The limit's value or what was attempted.
        detail: String,
    },
    /// The instance trapped earlier and could not be rebuilt.
    #[error("signature instance unavailable: it could not be rebuilt after a trap")]
    Unavailable(#[source] BoxError),
}

impl LoadError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Read { path, .. }
            | Self::NotRegular { path, .. }
            | Self::TooLarge { path, .. }
            | Self::Truncated { path, .. }
            | Self::NotWasm { path }
            | Self::CoreModule { path }
            | Self::Compile { path, .. }
            | Self::WrongWorld { path, .. }
            | Self::Trap { path, .. }
            | Self::LoadLimit { path, .. }
            | Self::Metadata { path, .. }
            | Self::Init { path, .. }
            | Self::Untrusted { path, .. }
            | Self::PullRefused { path, .. }
            | Self::IdClaimed { path, .. } => path,
        }
    }
}

/// The most of a guest's message (an error it returned, a trap or `init`
/// refusal) kept: the rest is cut before it is logged or stored.
pub const MAX_GUEST_MESSAGE: usize = 1024;

/// `message` cut to [`MAX_GUEST_MESSAGE`] bytes on a character boundary,
/// saying how long it was.
pub(crate) fn bounded_message(mut message: String) -> String {
    if message.len() > MAX_GUEST_MESSAGE {
        let total = message.len();
        let mut end = MAX_GUEST_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(&format!("… ({total} bytes, cut)"));
    }
    message
}

impl EvalError {
    /// Whether this is a fault (a trap or a limit hit) that counts toward
    /// quarantine. An error the signature returned is it doing its job on
    /// input it cannot judge, never a fault.
    pub fn is_fault(&self) -> bool {
        !matches!(self, Self::Returned(_))
    }

    /// Whether this failure left the instance unusable (it must be rebuilt).
    pub fn poisons_instance(&self) -> bool {
        match self {
            Self::Trap(_) => true,
            // An `output` hit stops wasmtime lifting a call's results
            // midway, before the guest's post-return ran.
            Self::LimitHit { limit, .. } => {
                matches!(*limit, "cpu" | "memory" | "stack" | "output")
            }
            Self::Returned(_) | Self::Unavailable(_) => false,
        }
    }
}
