//! `sigbox new`: a standalone signature project anywhere on disk. The
//! contract and the SDK are embedded in this binary, so the project needs
//! nothing from the sigbox checkout: its WIT and SDK are the very ones this
//! host serves.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The contract this host serves (0.2).
const WIT: &str = include_str!("../../../wit/signature.wit");
/// The Rust SDK, as `guest-signatures/sdk` builds it.
const SDK: &str = include_str!("../../../guest-signatures/sdk/src/lib.rs");
/// The Python SDK, as `guest-signatures/python/sdk` holds it.
const PYTHON_SDK: &str =
    include_str!("../../../guest-signatures/python/sdk/sigbox_sdk/__init__.py");
/// The example's test vectors, the same for both languages.
const VECTORS: &str = include_str!("rust/vectors.jsonl.in");
/// Where the SDK finds the WIT in this repository, and in a project.
const SDK_WIT_PATH: (&str, &str) = ("path: \"../../wit\"", "path: \"../wit\"");

/// The Rust project's own files: (path in the project, template). The
/// flat batch's layout crate (`sigbox-flat`, which the SDK reads batches
/// with) is copied as `guest-signatures/flat-batch` holds it.
const RUST_FILES: [(&str, &str); 9] = [
    ("Cargo.toml", include_str!("rust/Cargo.toml.in")),
    ("sdk/Cargo.toml", include_str!("rust/sdk.Cargo.toml.in")),
    (
        "flat/Cargo.toml",
        include_str!("../../../guest-signatures/flat-batch/Cargo.toml"),
    ),
    (
        "flat/src/lib.rs",
        include_str!("../../../guest-signatures/flat-batch/src/lib.rs"),
    ),
    (
        "flat/src/tests.rs",
        include_str!("../../../guest-signatures/flat-batch/src/tests.rs"),
    ),
    ("src/lib.rs", include_str!("rust/lib.rs.in")),
    ("build.sh", include_str!("rust/build.sh.in")),
    ("Makefile", include_str!("rust/Makefile.in")),
    ("README.md", include_str!("rust/README.md.in")),
];

/// The Python project's own files.
const PYTHON_FILES: [(&str, &str); 3] = [
    ("app.py", include_str!("python/app.py.in")),
    ("Makefile", include_str!("python/Makefile.in")),
    ("README.md", include_str!("python/README.md.in")),
];

/// The language of a new project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Rust with sigbox's SDK, built with cargo for wasm32-wasip2.
    Rust,
    /// Python with sigbox's SDK, built with componentize-py.
    Python,
}

/// Creates the directory `project` (`sigbox new NAME --dir PROJECT`), a
/// signature project named `name` in `language` with a working example,
/// its test vectors, a README and a Makefile (`make`, `make test`). Returns
/// the project's path.
///
/// # Errors
/// The name is not a valid crate name, the directory exists and is not
/// empty, or a file cannot be written.
pub fn new_project(name: &str, language: Language, project: &Path) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let project = project.to_owned();
    if project.exists()
        && std::fs::read_dir(&project)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(true)
    {
        anyhow::bail!(
            "{} already exists and is not empty: choose another name or --dir",
            project.display()
        );
    }
    let id = name.to_ascii_uppercase();
    let vars = [
        ("{{crate}}", name.to_owned()),
        ("{{crate_underscored}}", name.replace('-', "_")),
        ("{{id}}", id),
        (
            "{{name}}",
            "Reverse shell through a network tool".to_owned(),
        ),
        ("{{event_name}}", name.replace('-', "_")),
    ];
    let fill = |template: &str| {
        vars.iter().fold(template.to_owned(), |text, (key, value)| {
            text.replace(key, value)
        })
    };
    let own: &[(&str, &str)] = match language {
        Language::Rust => &RUST_FILES,
        Language::Python => &PYTHON_FILES,
    };
    let mut files: Vec<(String, String)> = own
        .iter()
        .chain([&("vectors/{{crate}}.jsonl", VECTORS)])
        .map(|(path, template)| (fill(path), fill(template)))
        .collect();
    files.push(("wit/signature.wit".to_owned(), WIT.to_owned()));
    match language {
        Language::Rust => files.push(("sdk/src/lib.rs".to_owned(), sdk_source()?)),
        Language::Python => files.push((
            "sdk/sigbox_sdk/__init__.py".to_owned(),
            PYTHON_SDK.to_owned(),
        )),
    }
    for (path, text) in files {
        let path = project.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(project)
}

/// The SDK source, pointed at the project's own `wit/`.
fn sdk_source() -> anyhow::Result<String> {
    let (here, there) = SDK_WIT_PATH;
    anyhow::ensure!(
        SDK.contains(here),
        "the embedded SDK no longer names its WIT as {here}: update scaffold::SDK_WIT_PATH"
    );
    Ok(SDK.replace(here, there))
}

/// A crate name that is also a file name: lowercase letters, digits and
/// `-`, starting with a letter, at most 64 bytes.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    anyhow::ensure!(
        valid,
        "invalid project name {name:?}: use lowercase letters, digits and '-', starting with a \
         letter (it names the crate, the module and the directory)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["mysig", "rev-shell-2"] {
            check_name(good).unwrap();
        }
        for bad in ["", "MySig", "2sig", "my_sig", "a/b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sdk_points_at_the_projects_wit() {
        let sdk = sdk_source().unwrap();
        assert!(sdk.contains("path: \"../wit\""));
        assert!(!sdk.contains("../../wit"));
    }

    #[test]
    fn a_project_is_written_with_every_placeholder_filled() {
        let dir = std::env::temp_dir().join(format!("sigbox-scaffold-{}", std::process::id()));
        let project = new_project("rev-shell", Language::Rust, &dir.join("rev-shell")).unwrap();
        for file in [
            "Cargo.toml",
            "sdk/Cargo.toml",
            "sdk/src/lib.rs",
            "flat/Cargo.toml",
            "flat/src/lib.rs",
            "src/lib.rs",
            "wit/signature.wit",
            "vectors/rev-shell.jsonl",
            "build.sh",
            "Makefile",
            "README.md",
        ] {
            let text = std::fs::read_to_string(project.join(file)).unwrap();
            assert!(!text.contains("{{"), "{file} has an unfilled placeholder");
        }
        // Nothing names the sigbox binary that made it: the project moves.
        let makefile = std::fs::read_to_string(project.join("Makefile")).unwrap();
        assert!(makefile.contains("SIGBOX ?= sigbox\n"), "{makefile}");
        let lib = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
        assert!(lib.contains("id: \"REV-SHELL\""));
        let build = std::fs::read_to_string(project.join("build.sh")).unwrap();
        assert!(build.contains("release/rev_shell.wasm"));
        // Not over an existing project.
        let again = new_project("rev-shell", Language::Python, &project)
            .unwrap_err()
            .to_string();
        assert!(again.contains("already exists"), "{again}");
        // --dir names the project's directory itself, whatever the name.
        let python = new_project("py-shell", Language::Python, &dir.join("elsewhere")).unwrap();
        assert_eq!(python, dir.join("elsewhere"));
        for file in [
            "app.py",
            "sdk/sigbox_sdk/__init__.py",
            "vectors/py-shell.jsonl",
            "Makefile",
        ] {
            let text = std::fs::read_to_string(python.join(file)).unwrap();
            assert!(!text.contains("{{"), "{file} has an unfilled placeholder");
        }
        assert!(!python.join("Cargo.toml").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
