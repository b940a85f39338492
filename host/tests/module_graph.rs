//! The import graph of `host/src` between its top-level modules (folders
//! and root files), read from the production code: `crate::X` paths, with
//! `crate::wit` counted as `engine` (it re-exports the engine's bindings).
//!
//! The folders promise layers (source → pipeline → engine → sink, with
//! telemetry, trust and registry beside them), so an import cycle between
//! two of them is a defect: `folders_import_one_way` fails naming the
//! cycle and the lines that close it. `make module-graph` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where one module imports another: file and line, for the report.
type Evidence = Vec<String>;

/// Edges between top-level modules, each with where it comes from.
type Graph = BTreeMap<String, BTreeMap<String, Evidence>>;

/// Imports that close a cycle and are left out of the check until they are
/// removed; the test fails once one is gone, so this list only shrinks. It
/// is empty: the host owns its event model (`event` imports no other
/// folder).
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[];

#[test]
fn folders_import_one_way() {
    let mut graph = import_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    if std::env::var_os("SIGBOX_PRINT_MODULE_GRAPH").is_some() {
        print_graph(&graph);
    }
    for (from, to) in KNOWN_BACK_EDGES {
        let removed = graph.get_mut(*from).and_then(|targets| targets.remove(*to));
        assert!(
            removed.is_some(),
            "{from} no longer imports {to}: remove it from KNOWN_BACK_EDGES"
        );
    }
    let cycles: Vec<Vec<String>> = strongly_connected(&graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .collect();
    if cycles.is_empty() {
        return;
    }
    let mut report = String::new();
    for cycle in &cycles {
        report.push_str(&format!("cycle between {}:\n", cycle.join(", ")));
        for from in cycle {
            for (to, evidence) in &graph[from] {
                if cycle.contains(to) {
                    report.push_str(&format!(
                        "  {from} -> {to}: {}\n",
                        evidence
                            .iter()
                            .take(3)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
    }
    panic!("the modules of host/src import each other in a cycle:\n{report}");
}

#[test]
fn the_scanner_sees_paths_and_skips_tests_and_comments() {
    let source = "use crate::engine::Set;\n// crate::sink in a comment\nfn f() { crate::wit::Event; \"crate::trust\"; }\n#[cfg(test)]\nmod tests {\n    use crate::registry::X;\n}\nfn g() { crate::telemetry::x(); }\n";
    let found: Vec<(String, usize)> = crate_paths(source);
    assert_eq!(
        found,
        vec![
            ("engine".to_string(), 1),
            ("engine".to_string(), 3),
            ("telemetry".to_string(), 8)
        ]
    );
}

/// Prints each module and what it imports, one line each.
fn print_graph(graph: &Graph) {
    for (from, targets) in graph {
        let names: Vec<&str> = targets.keys().map(String::as_str).collect();
        println!("{from} -> {}", names.join(", "));
    }
}

/// The graph of every `.rs` file under `src` except `lib.rs`, `main.rs`
/// (the crate root, which names every module) and test-only code.
fn import_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).expect("under src");
        let Some(from) = top_level_module(relative) else {
            continue;
        };
        if relative.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let node = graph.entry(from.clone()).or_default();
        for (to, line) in crate_paths(&text) {
            if to != from {
                node.entry(to)
                    .or_default()
                    .push(format!("{}:{line}", relative.display()));
            }
        }
    }
    graph
}

/// `engine/set.rs` → `engine`; `cli.rs` → `cli`; the crate root → none.
fn top_level_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        name => Some(name.trim_end_matches(".rs").to_string()),
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The top-level module of each `crate::NAME` path in `source`, with its
/// line, outside comments, string literals and `#[cfg(test)]` items.
fn crate_paths(source: &str) -> Vec<(String, usize)> {
    let code = without_tests(&blank_comments_and_strings(source));
    let mut found = Vec::new();
    for (index, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // e.g. `my_crate::`
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let module = if name == "wit" { "engine".into() } else { name };
            let next = rest[module_len(rest)..].starts_with("::");
            // `crate::printable(...)` is the root itself, not a module.
            if next {
                found.push((module, index + 1));
            }
        }
    }
    found
}

fn module_len(rest: &str) -> usize {
    rest.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum()
}

/// `source` with comments and the insides of string and char literals
/// replaced by spaces (newlines kept, so line numbers hold).
fn blank_comments_and_strings(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let blank = |b: u8| if b == b'\n' { b'\n' } else { b' ' };
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out.push(b' ');
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        out.extend([b' ', b' ']);
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        out.extend([b' ', b' ']);
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        out.push(blank(bytes[i]));
                        i += 1;
                    }
                }
            }
            b'r' if raw_string_hashes(&bytes[i..]).is_some() => {
                let hashes = raw_string_hashes(&bytes[i..]).unwrap_or(0);
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let start = i + 2 + hashes;
                out.extend(std::iter::repeat_n(b' ', start - i));
                i = start;
                while i < bytes.len() && !bytes[i..].starts_with(&close) {
                    out.push(blank(bytes[i]));
                    i += 1;
                }
                out.extend(std::iter::repeat_n(b' ', close.len().min(bytes.len() - i)));
                i += close.len();
            }
            b'"' => {
                out.push(b' ');
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' && i + 1 < bytes.len() {
                        out.push(b' ');
                        i += 1;
                    }
                    out.push(blank(bytes[i]));
                    i += 1;
                }
                out.push(b' ');
                i += 1;
            }
            b'\'' if is_char_literal(&bytes[i..]) => {
                let len = char_literal_len(&bytes[i..]);
                out.extend(std::iter::repeat_n(b' ', len));
                i += len;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// For `r"` or `r#…#"` at the start of `bytes`: the number of `#`.
fn raw_string_hashes(bytes: &[u8]) -> Option<usize> {
    let hashes = bytes[1..].iter().take_while(|&&b| b == b'#').count();
    (bytes.get(1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// `'x'` or `'\n'` (a literal), not a lifetime like `'a`.
fn is_char_literal(bytes: &[u8]) -> bool {
    match bytes.get(1) {
        Some(b'\\') => true,
        Some(_) => {
            let width = std::str::from_utf8(&bytes[1..bytes.len().min(5)])
                .ok()
                .or_else(|| std::str::from_utf8(&bytes[1..2]).ok())
                .and_then(|s| s.chars().next())
                .map_or(1, char::len_utf8);
            bytes.get(1 + width) == Some(&b'\'')
        }
        None => false,
    }
}

fn char_literal_len(bytes: &[u8]) -> usize {
    let mut i = 1;
    while i < bytes.len() && bytes[i] != b'\'' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// `code` with each `#[cfg(test)]` item (a `mod x { … }` or a function)
/// blanked out to its closing brace.
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(at) = out[from..].find("#[cfg(test)]").map(|a| a + from) {
        let rest = &out[at..];
        let end = match (rest.find('{'), rest.find(';')) {
            (Some(open), Some(semi)) if semi < open => at + semi + 1,
            (Some(open), _) => at + open + matching_brace(&rest[open..]),
            _ => out.len(),
        };
        let blanked: String = out[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blanked);
        from = end;
    }
    out
}

/// The length of the `{ … }` block that `text` starts with.
fn matching_brace(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// Tarjan's strongly connected components of `graph`.
fn strongly_connected(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<Vec<String>>,
    }
    fn visit<'g>(state: &mut State<'g>, node: &'g str) {
        let n = state.index.len();
        state.index.insert(node, n);
        state.low.insert(node, n);
        state.stack.push(node);
        state.on_stack.insert(node);
        if let Some(targets) = state.graph.get(node) {
            for to in targets.keys() {
                let to = to.as_str();
                if !state.index.contains_key(to) {
                    visit(state, to);
                    let low = state.low[node].min(state.low[to]);
                    state.low.insert(node, low);
                } else if state.on_stack.contains(to) {
                    let low = state.low[node].min(state.index[to]);
                    state.low.insert(node, low);
                }
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top.to_string());
                if top == node {
                    break;
                }
            }
            component.sort();
            state.components.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.components
}
