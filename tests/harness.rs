//! Harness for the end-to-end tests: runs the real `sigbox` binary built by
//! `make` (target/release/sigbox) on the real signature modules
//! (target/signatures/*.wasm) and the fixtures in tests/fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The release `sigbox` binary; panics with a hint when it was not built.
pub fn sigbox_bin() -> PathBuf {
    let bin = repo_root().join("target/release/sigbox");
    assert!(
        bin.is_file(),
        "{} is missing: run `make` (or `make test`) first",
        bin.display()
    );
    bin
}

/// The directory the build writes signature modules to.
pub fn signatures_dir() -> PathBuf {
    repo_root().join("target/signatures")
}

/// A signature module built from guest-signatures/<name>; panics when missing.
pub fn module(name: &str) -> PathBuf {
    let path = signatures_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `make` (or `make test`) first",
        path.display()
    );
    path
}

/// A file in tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

/// A fresh, empty directory for one test under target/e2e-tmp.
pub fn temp_dir(label: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = repo_root()
        .join("target/e2e-tmp")
        .join(format!("{label}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a test directory");
    dir
}

/// A directory holding copies of the named built modules.
pub fn signatures_with(label: &str, modules: &[&str]) -> PathBuf {
    let dir = temp_dir(label);
    for name in modules {
        std::fs::copy(module(name), dir.join(format!("{name}.wasm"))).expect("copying a module");
    }
    dir
}

/// Runs `sigbox` with `args` to completion.
pub fn sigbox(args: &[&str]) -> Output {
    Command::new(sigbox_bin())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("running sigbox")
}

/// The JSON lines of `stdout`, parsed; panics on a line that is not JSON.
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
        })
        .collect()
}

/// `stderr` as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
