//! Reading a module file from the signatures directory, which whoever can
//! write there controls: it is opened once (following symlinks, so
//! Kubernetes ConfigMap volumes work), without blocking (a FIFO never hangs
//! the reader), checked to be a regular file, and read up to a size cap.
//! Its [`Fingerprint`] lets a scan skip a file that has not changed without
//! reading or hashing it again, and tells a file that is still being written
//! (or was cut short) from a bad one: [`check_complete`], [`Fingerprint::quiet`].

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::error::LoadError;
use crate::trust::shape::Shape;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Fingerprint {
    /// Whether the file's times are old enough to trust: filesystem
    /// timestamps are coarse (a few milliseconds), so two writes of the same
    /// size within one tick look alike. A file changed in the last two
    /// seconds is read again on the next scan.
    pub(crate) fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        now - self.mtime_ns.max(self.ctime_ns) > 2_000_000_000
    }
}

impl Fingerprint {
    /// Whether nothing has written to (or renamed) the file for [`QUIET`]:
    /// a file that fails to load while it is not quiet may still be being
    /// written (a plain `cp`), so it is examined again later instead of
    /// being judged now.
    #[cfg(test)]
    pub(crate) fn quiet(&self) -> bool {
        self.changed_ago() >= QUIET
    }

    /// How long until the file is quiet, if it is not yet.
    pub(crate) fn quiet_in(&self) -> Option<std::time::Duration> {
        QUIET
            .checked_sub(self.changed_ago())
            .filter(|d| !d.is_zero())
    }

    fn changed_ago(&self) -> std::time::Duration {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let ago = now - self.mtime_ns.max(self.ctime_ns);
        std::time::Duration::from_nanos(u64::try_from(ago).unwrap_or(0))
    }
}

/// How long a file must go unwritten before a failure to load it is a
/// verdict rather than a file caught mid-copy.
pub const QUIET: std::time::Duration = std::time::Duration::from_secs(2);

/// The fingerprint of `path` now, if it can be read.
pub fn fingerprint_now(path: &Path) -> Option<Fingerprint> {
    open(path).ok().map(|opened| opened.fingerprint)
}

/// Checks that `bytes` hold every byte their WebAssembly framing announces:
/// the 8-byte header, then sections of an id byte, a LEB128 size and that
/// many bytes (the same framing for core modules and components). Anything
/// that does not start like WebAssembly is left for the loader to name.
///
/// # Errors
/// [`LoadError::Truncated`]: the file ends inside its header or a section.
pub fn check_complete(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    match crate::trust::shape::of(bytes) {
        Shape::Truncated { size, needed } => Err(LoadError::Truncated {
            path: path.to_owned(),
            size,
            needed,
        }),
        // Not wasm at all: the loader that follows says what it is.
        Shape::Complete | Shape::NotWasm { .. } => Ok(()),
    }
}

/// A module file, opened and checked, not yet read.
pub struct OpenModule {
    file: File,
    /// The opened file's identity and times.
    pub fingerprint: Fingerprint,
}

/// Opens `path` for reading a module.
///
/// # Errors
/// It cannot be opened (`Read`), or it is not a regular file (`NotRegular`).
pub fn open(path: &Path) -> Result<OpenModule, LoadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
    let meta = file.metadata().map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        let kind = match meta.mode() & libc::S_IFMT {
            libc::S_IFIFO => "a FIFO",
            libc::S_IFCHR => "a character device",
            libc::S_IFBLK => "a block device",
            libc::S_IFSOCK => "a socket",
            libc::S_IFDIR => "a directory",
            _ => "not a regular file",
        };
        return Err(LoadError::NotRegular {
            path: path.to_owned(),
            kind,
        });
    }
    let fingerprint = Fingerprint {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
    };
    Ok(OpenModule { file, fingerprint })
}

impl OpenModule {
    /// Reads the whole file, refusing more than `max_bytes` (checked by
    /// reading at most one byte more, so a file growing meanwhile, or one
    /// whose size the filesystem misreports as /proc files do, is still
    /// bounded).
    ///
    /// # Errors
    /// Reading failed, or the file is larger than `max_bytes`.
    pub(crate) fn read(self, path: &Path, max_bytes: u64) -> Result<Vec<u8>, LoadError> {
        if self.fingerprint.size > max_bytes {
            return Err(too_large(path, self.fingerprint.size, max_bytes));
        }
        let capacity = usize::try_from(self.fingerprint.size).unwrap_or(0);
        let mut bytes = Vec::with_capacity(capacity);
        self.file
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| LoadError::Read {
                path: path.to_owned(),
                source,
            })?;
        if bytes.len() as u64 > max_bytes {
            return Err(too_large(path, bytes.len() as u64, max_bytes));
        }
        Ok(bytes)
    }
}

fn too_large(path: &Path, size: u64, max: u64) -> LoadError {
    LoadError::TooLarge {
        path: path.to_owned(),
        size,
        max,
    }
}

/// Reads the module at `path` (see [`open`] and [`OpenModule::read`]).
///
/// # Errors
/// As [`open`] and [`OpenModule::read`].
pub fn read(path: &Path, max_bytes: u64) -> Result<Vec<u8>, LoadError> {
    open(path)?.read(path, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sigbox-module-file-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_module_cut_anywhere_is_truncated_and_a_whole_one_is_not() {
        // A header and two sections: a 3-byte custom section and a
        // 130-byte one (a two-byte size).
        let mut module = b"\0asm\x0d\0\x01\0".to_vec();
        module.extend([0, 3, b'a', b'b', b'c', 1, 0x82, 0x01]);
        module.extend([7u8; 130]);
        let path = Path::new("m.wasm");
        check_complete(path, &module).unwrap();
        for cut in 0..module.len() {
            // Cuts at a section boundary are whole modules, framing-wise.
            if [8, 13].contains(&cut) {
                continue;
            }
            let error = check_complete(path, &module[..cut]).unwrap_err();
            assert!(
                matches!(error, LoadError::Truncated { size, needed, .. } if size == cut as u64 && needed > size),
                "cut at {cut}: {error}"
            );
            assert!(error.to_string().contains("truncated"), "{error}");
        }
        // Not WebAssembly at all: for the loader to name.
        check_complete(path, b"#!/bin/sh\n").unwrap();
        check_complete(path, b"x").unwrap();
    }

    #[test]
    fn a_file_just_written_is_not_quiet() {
        let dir = temp_dir("quiet");
        let file = dir.join("new.wasm");
        std::fs::write(&file, b"\0asm").unwrap();
        let fingerprint = fingerprint_now(&file).unwrap();
        assert!(!fingerprint.quiet());
        assert!(fingerprint.quiet_in().is_some_and(|d| d <= QUIET));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = temp_dir("fifo");
        let fifo = dir.join("x.wasm");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let error = read(&fifo, 1 << 20).unwrap_err();
        assert!(error.to_string().contains("a FIFO"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn proc_files_and_large_sparse_files_are_bounded() {
        // /proc files report size 0 and can be long: the cap still holds.
        let error = read(Path::new("/proc/self/smaps"), 16).unwrap_err();
        assert!(error.to_string().contains("larger than"), "{error}");
        let dir = temp_dir("sparse");
        let sparse = dir.join("big.wasm");
        File::create(&sparse).unwrap().set_len(1 << 40).unwrap();
        let error = read(&sparse, 64 << 20).unwrap_err();
        assert!(error.to_string().contains("larger than"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlinks_are_followed_and_fingerprints_track_changes() {
        let dir = temp_dir("symlink");
        let real = dir.join("real.wasm");
        std::fs::write(&real, b"\0asm one").unwrap();
        let link = dir.join("link.wasm");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(read(&link, 1 << 20).unwrap(), b"\0asm one");
        let before = open(&link).unwrap().fingerprint;
        assert_eq!(open(&link).unwrap().fingerprint, before, "unchanged");
        let other = dir.join("other.wasm");
        std::fs::write(&other, b"\0asm two").unwrap();
        std::fs::rename(&other, &real).unwrap();
        assert_ne!(open(&link).unwrap().fingerprint, before, "replaced");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
