//! Builds the eBPF object for the live exec source (`bpf/exec.bpf.c`) and
//! generates the record layout constants the Rust twin is tested against.
//!
//! Outputs, in `OUT_DIR`:
//! - `exec.bpf.o`: the object `source::bpf` embeds with `include_bytes_aligned!`;
//! - `exec_compat.bpf.o`: the same without the ELF-loader lookup, for
//!   kernels before 5.17 (no `bpf_find_vma`);
//! - `exec_event_layout.rs`: offsets, size and `#define EXEC_*` constants read
//!   from `bpf/exec_event.h`, which clang checks with `_Static_assert`;
//! - `file_event_layout.rs`: the same for `bpf/file_event.h` (`FILE_*`);
//! - `sys_event_layout.rs`: the same for `bpf/sys_event.h` (`SYS_*`);
//! - `task_event_layout.rs`: the same for `bpf/task_event.h` (`TASK_*`).
//!
//! Environment:
//! - `SIGBOX_BPF_STUB=1`: do not run clang; write an empty object instead, so
//!   `cargo clippy`/`check` work on machines without clang. The resulting
//!   binary cannot start the live source (`BpfError::StubBuild`).
//! - `SIGBOX_CLANG`: the clang to use (default `clang-19`).
//!
//! Without stub mode a missing clang is a hard error: silently shipping a
//! daemon that cannot load its probe would be worse than a failed build.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file the object is built from, relative to the workspace root.
const BPF_SOURCES: &[&str] = &[
    "bpf/exec.bpf.c",
    "bpf/exec_event.h",
    "bpf/file.bpf.h",
    "bpf/file_event.h",
    "bpf/sys.bpf.h",
    "bpf/module.bpf.h",
    "bpf/sys_event.h",
    "bpf/task.bpf.h",
    "bpf/task_event.h",
    "bpf/vmlinux_subset.h",
];
/// The translation unit handed to clang.
const BPF_MAIN: &str = "bpf/exec.bpf.c";
/// The headers holding the records and their layout assertions, each with
/// the prefix of its macros and constants and the file generated from it.
const EVENT_HEADERS: &[(&str, &str, &str)] = &[
    ("bpf/exec_event.h", "EXEC", "exec_event_layout.rs"),
    ("bpf/file_event.h", "FILE", "file_event_layout.rs"),
    ("bpf/sys_event.h", "SYS", "sys_event_layout.rs"),
    ("bpf/task_event.h", "TASK", "task_event_layout.rs"),
];
const DEFAULT_CLANG: &str = "clang-19";

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .ok_or("CARGO_MANIFEST_DIR has no parent directory")?
        .to_path_buf();
    let out_dir = PathBuf::from(env_var("OUT_DIR")?);

    for source in BPF_SOURCES {
        let path = root.join(source);
        if !path.is_file() {
            return Err(format!("BPF source {} is missing", path.display()));
        }
        println!("cargo::rerun-if-changed={}", path.display());
    }
    println!("cargo::rerun-if-env-changed=SIGBOX_BPF_STUB");
    println!("cargo::rerun-if-env-changed=SIGBOX_CLANG");

    for (header, prefix, generated) in EVENT_HEADERS {
        write_layout(header, prefix, &root.join(header), &out_dir.join(generated))?;
    }

    // Two builds of one source: the full object, and one for kernels before
    // 5.17, which lack bpf_find_vma (and reject the callback it takes even
    // where the verifier would never reach it).
    let objects = [
        (out_dir.join("exec.bpf.o"), None),
        (
            out_dir.join("exec_compat.bpf.o"),
            Some("SIGBOX_NO_FIND_VMA"),
        ),
    ];
    let stub = env::var("SIGBOX_BPF_STUB").is_ok_and(|v| !v.is_empty() && v != "0");
    if stub {
        println!("cargo::warning=SIGBOX_BPF_STUB set: built without the eBPF object");
        for (object, _) in &objects {
            fs::write(object, b"")
                .map_err(|e| format!("writing stub object {}: {e}", object.display()))?;
        }
        return Ok(());
    }
    for (object, define) in &objects {
        compile_bpf(&root, &root.join(BPF_MAIN), object, *define)?;
    }
    Ok(())
}

fn env_var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|e| format!("environment variable {name}: {e}"))
}

/// Runs clang on `source`, writing `object`, with `define` set if given.
fn compile_bpf(
    root: &Path,
    source: &Path,
    object: &Path,
    define: Option<&str>,
) -> Result<(), String> {
    let clang = env::var("SIGBOX_CLANG").unwrap_or_else(|_| DEFAULT_CLANG.to_owned());
    // The headers that say `__TARGET_ARCH_*` (bpf_tracing.h) and the byte
    // order must match the machine the probe will run on, i.e. cargo's target.
    let arch = match env_var("CARGO_CFG_TARGET_ARCH")?.as_str() {
        "x86_64" => "x86",
        "aarch64" => "arm64",
        "riscv64" => "riscv",
        "s390x" => "s390",
        "powerpc64" => "powerpc",
        other => return Err(format!("no BPF __TARGET_ARCH for target arch {other}")),
    };
    let bpf_target = match env_var("CARGO_CFG_TARGET_ENDIAN")?.as_str() {
        "big" => "bpfeb",
        _ => "bpfel",
    };
    let output = Command::new(&clang)
        .args(["-g", "-O2", "-Wall", "-target", bpf_target])
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .args(define.map(|d| format!("-D{d}")))
        .arg("-I")
        .arg(root.join("bpf"))
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(object)
        .output()
        .map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                format!(
                    "`{clang}` not found; it is needed to compile {} \
                     (install clang-19 and libbpf-dev, set SIGBOX_CLANG to another clang, \
                     or set SIGBOX_BPF_STUB=1 to build without the eBPF object)",
                    source.display()
                )
            } else {
                format!("running `{clang}` on {}: {e}", source.display())
            }
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let hint = if stderr.contains("bpf/bpf_helpers.h") {
            " (libbpf headers missing: install libbpf-dev)"
        } else {
            ""
        };
        return Err(format!(
            "`{clang}` failed ({}) compiling {}{hint}:\n{stderr}",
            output.status,
            source.display()
        ));
    }
    for line in stderr.lines().filter(|l| l.contains("warning:")) {
        println!("cargo::warning={line}");
    }
    Ok(())
}

/// Generates Rust constants from the `<P>_EVENT_FIELD`, `<P>_EVENT_SIZE`
/// and `#define <P>_*` lines of an event header (`P` is `prefix`).
fn write_layout(name: &str, prefix: &str, header: &Path, out: &Path) -> Result<(), String> {
    let text =
        fs::read_to_string(header).map_err(|e| format!("reading {}: {e}", header.display()))?;
    let field_macro = format!("{prefix}_EVENT_FIELD(");
    let size_macro = format!("{prefix}_EVENT_SIZE(");
    let define = format!("#define {prefix}_");
    let mut fields = Vec::new();
    let mut size = None;
    let mut defines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        let bad = || format!("{}:{}: cannot parse `{line}`", header.display(), number + 1);
        if let Some(args) = macro_args(line, &field_macro) {
            let (name, offset) = args.split_once(',').ok_or_else(bad)?;
            let offset = parse_int(offset).ok_or_else(bad)?;
            fields.push((name.trim().to_owned(), offset));
        } else if let Some(args) = macro_args(line, &size_macro) {
            size = Some(parse_int(args).ok_or_else(bad)?);
        } else if let Some(rest) = line.strip_prefix(&define) {
            let mut words = rest.split_whitespace();
            let (Some(name), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            // Function-like macros and non-numeric values are not constants.
            if let (false, Some(value)) = (name.contains('('), parse_int(value)) {
                defines.push((format!("{prefix}_{name}"), value));
            }
        }
    }
    let size = size.ok_or_else(|| format!("{}: no {prefix}_EVENT_SIZE line", header.display()))?;
    if fields.is_empty() {
        return Err(format!(
            "{}: no {prefix}_EVENT_FIELD lines",
            header.display()
        ));
    }

    let record = prefix.to_lowercase();
    let mut rs = format!("// Generated by host/build.rs from {name}. Do not edit.\n\n");
    let _ = writeln!(
        rs,
        "/// `sizeof(struct {record}_event)` as asserted in the C header."
    );
    let _ = writeln!(
        rs,
        "pub(crate) const C_{prefix}_EVENT_SIZE: usize = {size};"
    );
    let _ = writeln!(
        rs,
        "/// `(field, offsetof(struct {record}_event, field))` as asserted in the C header."
    );
    let _ = writeln!(
        rs,
        "pub(crate) const C_{prefix}_EVENT_FIELDS: &[(&str, usize)] = &["
    );
    for (name, offset) in &fields {
        let _ = writeln!(rs, "    ({name:?}, {offset}),");
    }
    rs.push_str("];\n");
    for (name, value) in &defines {
        let _ = writeln!(rs, "/// `{name}` from the C header.");
        let _ = writeln!(rs, "pub(crate) const {name}: u32 = {value};");
    }
    fs::write(out, rs).map_err(|e| format!("writing {}: {e}", out.display()))
}

/// The text between `name` and the closing parenthesis, if `line` is a use of `name`.
fn macro_args<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.strip_prefix(name)?
        .split_once(')')
        .map(|(args, _)| args)
}

fn parse_int(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
