//! The ahead-of-time compile cache: compiled signatures kept on disk so a
//! signature loaded again (next start, hot reload, another sigbox process)
//! skips Cranelift.
//!
//! Deserializing a compiled artifact is `unsafe` in wasmtime: its machine code
//! is trusted as it is. The cache therefore only ever deserializes files that
//! sigbox itself wrote, in a directory that only sigbox's user can write:
//!
//! - the directory is created with mode 0700; an existing one is refused (the
//!   cache is disabled with a warning) unless it is owned by the current
//!   effective uid and is neither group- nor world-writable;
//! - an entry is opened without following symlinks and is used only if it is a
//!   regular file owned by the current uid, not group/world-writable;
//! - every entry starts with a header written by [`CompileCache`]: a magic, the
//!   sha256 of the module it was compiled from, the engine's compatibility
//!   hash, and the sha256 and length of the compiled payload. An entry whose
//!   header does not match the module being loaded, or whose payload does not
//!   hash to the recorded digest (truncated, corrupted), is rejected with a
//!   warning and the module is compiled again (and the entry rewritten);
//! - entries are written to a temporary file (mode 0600, `O_EXCL`) and renamed
//!   into place, so a reader never sees a half-written entry.
//!
//! Entries are named `<module sha256>-<engine hash>.cwasm`: a new wasmtime, a
//! different engine configuration or another CPU gives new names, so stale
//! entries are never used. The directory is bounded: after each write the
//! least recently used entries (a hit refreshes an entry's time) beyond
//! [`MAX_CACHE_ENTRIES`] or [`MAX_CACHE_BYTES`] are deleted, so hot swaps
//! every few seconds for weeks cannot fill the disk. The directory can be
//! removed at any time.

use std::fs::{self, DirBuilder, OpenOptions};
use std::hash::Hasher;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The first bytes of every entry (the last byte is the format version).
const MAGIC: &[u8; 8] = b"SIGBOXC\x01";
/// Magic, module digest, engine hash, payload digest, payload length.
const HEADER_LEN: usize = 8 + 32 + 32 + 32 + 8;
/// Entries larger than this are not read (a compiled signature is far smaller).
const MAX_ENTRY_BYTES: u64 = 1 << 30;
/// Entries kept at most (a compiled signature is about 1 to 3 MiB).
pub const MAX_CACHE_ENTRIES: usize = 256;
/// Bytes of entries kept at most.
pub const MAX_CACHE_BYTES: u64 = 512 << 20;
/// Temporary files older than this are left over from a crash: removed.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// What happened when a module was looked up in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid entry was found and deserialized.
    Hit,
    /// No entry: the module was compiled (and an entry written).
    Miss,
    /// An entry existed but was not usable (the reason); the module was
    /// compiled again and the entry rewritten.
    Rejected(String),
}

/// A directory of compiled signatures, for one engine configuration.
#[derive(Debug)]
pub struct CompileCache {
    dir: PathBuf,
    engine_hash: [u8; 32],
}

impl CompileCache {
    /// Opens (creating it with mode 0700 if needed) the cache directory `dir`
    /// for `engine`.
    ///
    /// # Errors
    /// The directory cannot be created, or it is not safe to deserialize code
    /// from it: not owned by the current effective uid, or writable by group or
    /// others. The caller should run without a cache.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> io::Result<Self> {
        ensure_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            engine_hash: engine_hash(engine),
        })
    }

    /// The cache directory.
    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file an entry for the module with digest `sha256` is stored in.
    pub(crate) fn entry_path(&self, sha256: &[u8; 32]) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.cwasm",
            hex::encode(sha256),
            hex::encode(&self.engine_hash[..16])
        ))
    }

    /// The compiled component for `bytes` (whose sha256 is `sha256`): from the
    /// cache when a valid entry exists, otherwise compiled and stored.
    ///
    /// # Errors
    /// The module does not compile. Cache failures are never errors: they are
    /// logged and the module is compiled.
    #[cfg(test)]
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &[u8; 32],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        self.load_or_compile_with(engine, sha256, || Component::from_binary(engine, bytes))
    }

    /// Like [`Self::load_or_compile`], compiling with `compile` on a miss
    /// (the daemon compiles in a bounded child process).
    ///
    /// # Errors
    /// `compile` failed.
    pub(crate) fn load_or_compile_with(
        &self,
        engine: &Engine,
        sha256: &[u8; 32],
        compile: impl FnOnce() -> wasmtime::Result<Component>,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(sha256);
        let outcome = match self.read(engine, &path, sha256) {
            Ok(Some(component)) => {
                // Recently used: the last to be pruned.
                let _ = fs::File::options()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                return Ok((component, CacheOutcome::Hit));
            }
            Ok(None) => CacheOutcome::Miss,
            Err(reason) => {
                tracing::warn!(
                    "compile cache: ignoring {}: {reason}; compiling the module again",
                    path.display()
                );
                CacheOutcome::Rejected(reason)
            }
        };
        let component = compile()?;
        match component.serialize() {
            Ok(payload) => {
                if let Err(error) = self.write(&path, sha256, &payload) {
                    tracing::warn!("compile cache: cannot write {}: {error}", path.display());
                }
                prune(&self.dir, &path, MAX_CACHE_ENTRIES, MAX_CACHE_BYTES);
            }
            Err(error) => tracing::warn!("compile cache: cannot serialize a component: {error}"),
        }
        Ok((component, outcome))
    }

    /// Reads and checks an entry: `Ok(None)` when there is none, `Err(reason)`
    /// when there is one that must not be used.
    fn read(
        &self,
        engine: &Engine,
        path: &Path,
        sha256: &[u8; 32],
    ) -> Result<Option<Component>, String> {
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("cannot open: {error}")),
        };
        let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        check_owner_and_mode(&meta)?;
        if meta.len() > MAX_ENTRY_BYTES {
            return Err(format!("{} bytes is too large", meta.len()));
        }
        let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut data)
            .map_err(|e| format!("cannot read: {e}"))?;
        let payload = self.check_entry(&data, sha256)?;
        // SAFETY: `payload` is exactly what `Component::serialize` produced in
        // this cache's `write` for this module and this engine configuration:
        // the file lives in a directory only our uid can write
        // (`ensure_private_dir`), is a regular file we own that nobody else can
        // write (`check_owner_and_mode`, opened without following symlinks),
        // its header names this module's digest and this engine's hash, and the
        // payload hashes to the digest recorded when it was written, so it was
        // neither truncated nor corrupted since.
        let component = unsafe { Component::deserialize(engine, payload) }
            .map_err(|e| format!("wasmtime refused it: {e}"))?;
        Ok(Some(component))
    }

    /// Checks an entry's header against the module and engine; returns its payload.
    fn check_entry<'a>(&self, data: &'a [u8], sha256: &[u8; 32]) -> Result<&'a [u8], String> {
        if data.len() < HEADER_LEN {
            return Err(format!("truncated ({} bytes)", data.len()));
        }
        let (header, payload) = data.split_at(HEADER_LEN);
        if &header[..8] != MAGIC {
            return Err("not a sigbox cache entry (bad magic)".into());
        }
        if &header[8..40] != sha256 {
            return Err("written for another module (digest mismatch)".into());
        }
        if header[40..72] != self.engine_hash {
            return Err("written for another engine configuration".into());
        }
        let length = u64::from_le_bytes(header[104..112].try_into().expect("8 bytes"));
        if u64::try_from(payload.len()).ok() != Some(length) {
            return Err(format!(
                "truncated or extended (payload {} bytes, header says {length})",
                payload.len()
            ));
        }
        if Sha256::digest(payload).as_slice() != &header[72..104] {
            return Err("corrupted (payload digest mismatch)".into());
        }
        Ok(payload)
    }

    /// Writes an entry atomically: a private temporary file, renamed into place.
    fn write(&self, path: &Path, sha256: &[u8; 32], payload: &[u8]) -> io::Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let temp = self.dir.join(format!(
            ".tmp-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            hex::encode(&sha256[..8])
        ));
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(sha256);
        header.extend_from_slice(&self.engine_hash);
        header.extend_from_slice(&Sha256::digest(payload));
        header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temp)?;
            file.write_all(&header)?;
            file.write_all(payload)?;
            // No fsync: an entry cut short by a crash fails its digest check
            // and is recompiled, which costs less than syncing every write.
            drop(file);
            fs::rename(&temp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }
}

/// Deletes the least recently used entries of `dir` until at most
/// `max_entries` entries of at most `max_bytes` in all remain (`keep`, the
/// entry just written, always stays), and temporary files left by a crash.
/// Best effort: a file that cannot be removed is skipped.
fn prune(dir: &Path, keep: &Path, max_entries: usize, max_bytes: u64) {
    let Ok(listing) = fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    let mut entries = Vec::new();
    for item in listing.flatten() {
        let path = item.path();
        let Ok(meta) = item.metadata() else { continue };
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        let name = item.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".tmp-") {
            if now
                .duration_since(modified)
                .is_ok_and(|age| age > STALE_TEMP)
            {
                let _ = fs::remove_file(&path);
            }
        } else if name.ends_with(".cwasm") && meta.is_file() {
            entries.push((modified, meta.len(), path));
        }
    }
    // Newest first: what is kept is a prefix.
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    // The entry just written counts first.
    let (mut count, mut bytes) = entries
        .iter()
        .find(|(_, _, path)| path == keep)
        .map_or((0, 0), |(_, len, _)| (1, *len));
    for (_, len, path) in entries {
        if path == keep {
            continue;
        }
        if count < max_entries && bytes + len <= max_bytes {
            count += 1;
            bytes += len;
        } else if fs::remove_file(&path).is_ok() {
            tracing::debug!(
                "compile cache: removed the least recently used {}",
                path.display()
            );
        }
    }
}

/// The default cache directory: `$SIGBOX_CACHE_DIR` if set; for root
/// `/var/cache/sigbox`; otherwise `$XDG_CACHE_HOME/sigbox` (when absolute) or
/// `~/.cache/sigbox`. `None` when no home directory is known.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SIGBOX_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Some(PathBuf::from("/var/cache/sigbox"));
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("sigbox"));
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|home| home.is_absolute())
        .map(|home| home.join(".cache").join("sigbox"))
}

/// Creates `dir` (mode 0700; missing parents with default permissions) and
/// checks that only the current user can write it.
fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::metadata(dir) {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)?;
            }
            match DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
        }
        Err(error) => return Err(error),
    }
    let meta = fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    check_owner_and_mode(&meta).map_err(|reason| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{}: {reason}", dir.display()),
        )
    })
}

/// Refuses anything not owned by the effective uid or writable by group/others.
fn check_owner_and_mode(meta: &fs::Metadata) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid {
        return Err(format!(
            "owned by uid {}, not by us (uid {uid})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!("writable by group or others (mode {mode:04o})"));
    }
    Ok(())
}

/// sha256 of the engine's compatibility hash: equal exactly when artifacts
/// compiled by one engine can be loaded by the other.
fn engine_hash(engine: &Engine) -> [u8; 32] {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            unreachable!("only the digest is used")
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = ShaHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    // Tie entries to this file format too.
    hasher.0.update(MAGIC);
    hasher.0.finalize().into()
}

/// Reads a whole file that must exist (helper for tests and tools).
#[cfg(test)]
fn read_all(path: &Path) -> Vec<u8> {
    let mut data = Vec::new();
    fs::File::open(path)
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    data
}

#[cfg(test)]
mod tests {
    #[test]
    fn pruning_keeps_the_newest_entries_within_both_bounds() {
        let dir = std::env::temp_dir().join(format!("sigbox-cache-prune-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let base = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
        for n in 0..10u64 {
            let path = dir.join(format!("{n:02}-x.cwasm"));
            fs::write(&path, vec![0u8; 100]).unwrap();
            let file = fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(base + std::time::Duration::from_secs(n))
                .unwrap();
        }
        fs::write(dir.join("unrelated.txt"), b"x").unwrap();
        // The oldest entry was just written: it stays whatever its time.
        let keep = dir.join("00-x.cwasm");
        prune(&dir, &keep, 4, 1000);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "00-x.cwasm",
                "07-x.cwasm",
                "08-x.cwasm",
                "09-x.cwasm",
                "unrelated.txt"
            ]
        );
        prune(&dir, &keep, 100, 150);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "00 and unrelated.txt"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh private directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "sigbox-cache-test-{}-{tag}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&path);
            DirBuilder::new().mode(0o700).create(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    /// Two different small components.
    fn component_bytes(n: u32) -> Vec<u8> {
        let wat = format!(
            r#"(component
                 (core module $m (func (export "f") (result i32) i32.const {n}))
                 (core instance $i (instantiate $m))
                 (func (export "f") (result u32) (canon lift (core func $i "f"))))"#
        );
        wat::parse_str(&wat).unwrap()
    }

    fn digest(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    /// Calls the component's `f` export.
    fn call_f(engine: &Engine, component: &Component) -> u32 {
        let mut store = wasmtime::Store::new(engine, ());
        let linker = wasmtime::component::Linker::<()>::new(engine);
        let instance = linker.instantiate(&mut store, component).unwrap();
        let f = instance
            .get_typed_func::<(), (u32,)>(&mut store, "f")
            .unwrap();
        f.call(&mut store, ()).unwrap().0
    }

    #[test]
    fn miss_then_hit() {
        let dir = TempDir::new("hit");
        let engine = engine();
        let cache = CompileCache::open(&dir.0.join("cache"), &engine).unwrap();
        let mode = fs::metadata(cache.dir()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "the cache directory is private");
        let bytes = component_bytes(7);
        let sha = digest(&bytes);
        let (c, outcome) = cache.load_or_compile(&engine, &bytes, &sha).unwrap();
        assert_eq!(outcome, CacheOutcome::Miss);
        assert_eq!(call_f(&engine, &c), 7);
        let entry = cache.entry_path(&sha);
        assert_eq!(fs::metadata(&entry).unwrap().mode() & 0o777, 0o600);
        let (c, outcome) = cache.load_or_compile(&engine, &bytes, &sha).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        assert_eq!(call_f(&engine, &c), 7);
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(cache.dir()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn digest_mismatch_recompiles() {
        let dir = TempDir::new("digest");
        let engine = engine();
        let cache = CompileCache::open(&dir.0, &engine).unwrap();
        let (a, b) = (component_bytes(1), component_bytes(2));
        let (sha_a, sha_b) = (digest(&a), digest(&b));
        cache.load_or_compile(&engine, &a, &sha_a).unwrap();
        // Module A's entry placed under module B's name must not be used for B.
        fs::copy(cache.entry_path(&sha_a), cache.entry_path(&sha_b)).unwrap();
        let (c, outcome) = cache.load_or_compile(&engine, &b, &sha_b).unwrap();
        assert!(
            matches!(&outcome, CacheOutcome::Rejected(r) if r.contains("digest mismatch")),
            "{outcome:?}"
        );
        assert_eq!(call_f(&engine, &c), 2, "B was compiled from its own bytes");
        // The entry was rewritten for B.
        let (c, outcome) = cache.load_or_compile(&engine, &b, &sha_b).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        assert_eq!(call_f(&engine, &c), 2);
    }

    #[test]
    fn other_engine_configuration_is_not_used() {
        let dir = TempDir::new("engine");
        let engine_a = engine();
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine_b = Engine::new(&config).unwrap();
        let bytes = component_bytes(3);
        let sha = digest(&bytes);
        let cache_a = CompileCache::open(&dir.0, &engine_a).unwrap();
        let cache_b = CompileCache::open(&dir.0, &engine_b).unwrap();
        assert_ne!(cache_a.entry_path(&sha), cache_b.entry_path(&sha));
        cache_a.load_or_compile(&engine_a, &bytes, &sha).unwrap();
        // Even under B's name, A's entry is refused by its header.
        fs::copy(cache_a.entry_path(&sha), cache_b.entry_path(&sha)).unwrap();
        let (_, outcome) = cache_b.load_or_compile(&engine_b, &bytes, &sha).unwrap();
        assert!(
            matches!(&outcome, CacheOutcome::Rejected(r) if r.contains("engine")),
            "{outcome:?}"
        );
    }

    #[test]
    fn corrupted_entries_recompile() {
        let dir = TempDir::new("corrupt");
        let engine = engine();
        let cache = CompileCache::open(&dir.0, &engine).unwrap();
        let bytes = component_bytes(5);
        let sha = digest(&bytes);
        cache.load_or_compile(&engine, &bytes, &sha).unwrap();
        let entry = cache.entry_path(&sha);
        let good = read_all(&entry);

        let mut flipped = good.clone();
        let last = flipped.len() - 100;
        flipped[last] ^= 0x40;
        let truncated = good[..good.len() / 2].to_vec();
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        let cases = [
            (flipped, "corrupted"),
            (truncated, "truncated"),
            (bad_magic, "magic"),
            (b"short".to_vec(), "truncated"),
        ];
        for (data, expected) in cases {
            fs::write(&entry, &data).unwrap();
            let (c, outcome) = cache.load_or_compile(&engine, &bytes, &sha).unwrap();
            assert!(
                matches!(&outcome, CacheOutcome::Rejected(r) if r.contains(expected)),
                "{expected}: {outcome:?}"
            );
            assert_eq!(call_f(&engine, &c), 5);
            // Rewritten: the next load hits.
            assert_eq!(read_all(&entry), good);
        }
    }

    #[test]
    fn insecure_directory_is_refused() {
        let dir = TempDir::new("insecure");
        let engine = engine();
        for mode in [0o777, 0o770, 0o722] {
            fs::set_permissions(&dir.0, fs::Permissions::from_mode(mode)).unwrap();
            let error = CompileCache::open(&dir.0, &engine).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::PermissionDenied, "{mode:o}");
            assert!(error.to_string().contains("writable"), "{error}");
        }
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o755)).unwrap();
        CompileCache::open(&dir.0, &engine).expect("0755 is not writable by others");

        // A directory owned by someone else (only root can make one here).
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let other = dir.0.join("other");
            DirBuilder::new().mode(0o700).create(&other).unwrap();
            std::os::unix::fs::chown(&other, Some(65534), None).unwrap();
            let error = CompileCache::open(&other, &engine).unwrap_err();
            assert!(error.to_string().contains("owned by uid 65534"), "{error}");
        }
    }

    #[test]
    fn insecure_or_foreign_entries_are_refused() {
        let dir = TempDir::new("entry");
        let engine = engine();
        let cache = CompileCache::open(&dir.0, &engine).unwrap();
        let bytes = component_bytes(9);
        let sha = digest(&bytes);
        cache.load_or_compile(&engine, &bytes, &sha).unwrap();
        let entry = cache.entry_path(&sha);

        fs::set_permissions(&entry, fs::Permissions::from_mode(0o666)).unwrap();
        let (_, outcome) = cache.load_or_compile(&engine, &bytes, &sha).unwrap();
        assert!(
            matches!(&outcome, CacheOutcome::Rejected(r) if r.contains("writable")),
            "{outcome:?}"
        );

        // A symlink in place of an entry is not followed.
        let elsewhere = dir.0.join("elsewhere.cwasm");
        fs::rename(&entry, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
        let (_, outcome) = cache.load_or_compile(&engine, &bytes, &sha).unwrap();
        assert!(matches!(outcome, CacheOutcome::Rejected(_)), "{outcome:?}");
        assert!(!fs::symlink_metadata(&entry).unwrap().is_symlink());
    }

    #[test]
    fn creates_missing_parents() {
        let dir = TempDir::new("parents");
        let engine = engine();
        let nested = dir.0.join("a/b/sigbox");
        let cache = CompileCache::open(&nested, &engine).unwrap();
        assert!(cache.dir().is_dir());
    }
}
