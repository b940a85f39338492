//! The signatures directory is attacker-reachable input: FIFOs, /proc
//! files, huge sparse files and modules built to be expensive to compile
//! cannot stall or exhaust the daemon, and symlinked layouts (Kubernetes
//! ConfigMap volumes) keep working.

use std::path::Path;
use std::time::Duration;

use sigbox_e2e::{Daemon, module, temp_dir, test_module};

/// The log line replay prints once it watches the directory.
const WATCHING: &str = "for signature changes";

/// `sigbox replay -` on `dir` (watching it), with extra arguments.
fn watching(dir: &Path, extra: &[&str]) -> (Daemon, std::process::ChildStdin) {
    let mut args = vec!["replay", "-s", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("-");
    Daemon::start_piped(&args, WATCHING)
}

fn wait_for(daemon: &Daemon, text: &str) {
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(300), text),
        "no {text:?}:\n{}",
        daemon.stderr_text()
    );
}

#[test]
fn special_and_huge_files_are_rejected_without_blocking_or_reading_them() {
    let dir = temp_dir("files-special");
    let config = temp_dir("files-special-config").join("sigbox.toml");
    std::fs::write(&config, "[limits]\nmodule_mib = 4\n").unwrap();
    let (daemon, stdin) = watching(&dir, &["--config", config.to_str().unwrap()]);
    // A FIFO: opening it for reading would block until a writer comes.
    let fifo = dir.join("fifo.wasm");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    // A symlink to a device, and one to a /proc file that reports size 0
    // but holds megabytes.
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.wasm")).unwrap();
    std::os::unix::fs::symlink("/proc/kallsyms", dir.join("kallsyms.wasm")).unwrap();
    // A symlink to nothing.
    std::os::unix::fs::symlink("missing", dir.join("dangling.wasm")).unwrap();
    // A 1 TiB sparse file.
    std::fs::File::create(dir.join("sparse.wasm"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    wait_for(&daemon, "fifo.wasm: a FIFO, not a regular file");
    wait_for(&daemon, "zero.wasm: a character device, not a regular file");
    // /proc/kallsyms: several MiB behind a size of 0; read only up to the cap.
    wait_for(
        &daemon,
        "kallsyms.wasm: 4194305 bytes, larger than the module size limit",
    );
    wait_for(&daemon, "dangling.wasm: cannot read file");
    wait_for(
        &daemon,
        "sparse.wasm: 1099511627776 bytes, larger than the module size limit",
    );
    // The reload path still works: the next good module loads.
    std::fs::copy(module("trc-1016"), dir.join("trc-1016.wasm")).unwrap();
    wait_for(&daemon, "loaded signature TRC-1016");
    let peak_kib = sigbox_e2e::peak_rss_kib(daemon.pid());
    drop(stdin);
    let stopped = daemon.wait();
    // Nothing beyond the size cap was read into memory.
    assert!(peak_kib < 256 << 10, "peak RSS {peak_kib} KiB");
    // Each special file was reported once, not on every rescan.
    assert_eq!(stopped.stderr.matches("fifo.wasm: a FIFO").count(), 1);
}

#[test]
fn a_configmap_style_symlinked_directory_loads_and_swaps() {
    let dir = temp_dir("files-configmap");
    let v1 = dir.join("..2026_11_28_v1");
    std::fs::create_dir(&v1).unwrap();
    std::fs::copy(test_module("versioned-v1"), v1.join("versioned.wasm")).unwrap();
    std::os::unix::fs::symlink("..2026_11_28_v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/versioned.wasm", dir.join("versioned.wasm")).unwrap();
    let (daemon, stdin) = watching(&dir, &[]);
    wait_for(&daemon, "loaded signature TEST-VERSIONED v1");
    // Kubernetes updates a ConfigMap volume by writing a new directory and
    // renaming a new `..data` symlink over the old one.
    let v2 = dir.join("..2026_11_28_v2");
    std::fs::create_dir(&v2).unwrap();
    std::fs::copy(test_module("versioned-v2"), v2.join("versioned.wasm")).unwrap();
    std::os::unix::fs::symlink("..2026_11_28_v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    wait_for(&daemon, "with TEST-VERSIONED v2");
    drop(stdin);
    let stopped = daemon.wait();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// A component holding a core module of `functions` functions, each a
/// long chain of arithmetic: cheap to write, expensive to compile (about a
/// second per 1,000 functions on this kind of machine). Encoded directly,
/// as the text form would take gigabytes to parse.
pub fn compile_bomb(functions: u32) -> Vec<u8> {
    fn leb(mut n: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, content: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(content.len() as u32, out);
        out.extend_from_slice(content);
    }
    // (func (param i32) (result i32) local.get 0 {local.get 0, i32.mul, i32.const 7, i32.add}×400)
    let mut body = vec![0x00, 0x20, 0x00];
    for _ in 0..400 {
        body.extend_from_slice(&[0x20, 0x00, 0x6c, 0x41, 0x07, 0x6a]);
    }
    body.push(0x0b);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    // A custom section with this run's pid and time: never a cache hit.
    let nonce = format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)
    );
    let mut custom = vec![5];
    custom.extend_from_slice(b"nonce");
    custom.extend_from_slice(nonce.as_bytes());
    section(0, &custom, &mut module);
    section(1, &[0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f], &mut module);
    let mut funcs = Vec::new();
    leb(functions, &mut funcs);
    funcs.extend(std::iter::repeat_n(0x00, functions as usize));
    section(3, &funcs, &mut module);
    let mut code = Vec::new();
    leb(functions, &mut code);
    for _ in 0..functions {
        leb(body.len() as u32, &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut module);
    // A component (layer 1) whose only section is that core module.
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &module, &mut component);
    component
}

#[test]
fn an_expensive_compile_is_cut_at_its_limit_and_delays_no_other_module() {
    let dir = temp_dir("files-bomb");
    let config = temp_dir("files-bomb-config").join("sigbox.toml");
    std::fs::write(&config, "[limits]\ncompile_s = 2\n").unwrap();
    // A module that fails to compile is never cached: the bomb is compiled.
    let (daemon, stdin) = watching(&dir, &["--config", config.to_str().unwrap()]);
    let bomb = compile_bomb(12_000);
    let staging = temp_dir("files-bomb-staging");
    std::fs::write(staging.join("bomb.wasm"), &bomb).unwrap();
    // Signed by a trusted key: the compile limit is what stops it.
    sigbox_e2e::sign(&staging.join("bomb.wasm"));
    std::fs::copy(module("trc-1016"), staging.join("trc-1016.wasm")).unwrap();
    // Both arrive at the same moment.
    std::fs::rename(staging.join("bomb.wasm"), dir.join("a-bomb.wasm")).unwrap();
    std::fs::rename(staging.join("trc-1016.wasm"), dir.join("trc-1016.wasm")).unwrap();
    wait_for(&daemon, "the compile time limit of 2s");
    drop(stdin);
    let stopped = daemon.wait();
    let loaded_at = stopped
        .stderr
        .find("loaded signature TRC-1016")
        .unwrap_or_else(|| panic!("TRC-1016 did not load:\n{}", stopped.stderr));
    let rejected_at = stopped.stderr.find("the compile time limit of 2s").unwrap();
    assert!(
        loaded_at < rejected_at,
        "the good module waited for the bomb:\n{}",
        stopped.stderr
    );
    // Cut by its CPU time, or on a starved machine by the wall-clock
    // backstop: either way the message names the limit and its key.
    assert!(
        stopped
            .stderr
            .lines()
            .any(|l| l.contains("a-bomb.wasm: invalid component: compiling")
                && l.contains("the compile time limit of 2s")
                && l.contains("(raise with compile_s")),
        "{}",
        stopped.stderr
    );
}
