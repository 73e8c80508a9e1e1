//! The house rules of docsvc's source, checked on every run: modules import only from their own
//! layer or below, no two top-level modules import each other (directly or round a cycle), and
//! the development tools are used by no production module. Read from the source text
//! (`crate::` paths outside comments and test modules), so that a new import that breaks a
//! rule fails here, naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module's layer: a module may use its own layer and those below.
const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("schema", 0),
    ("private_files", 0),
    ("metrics", 0),
    ("logging", 0),
    ("store", 1),
    ("crypto", 2),
    ("audit", 3),
    ("node", 4),
    ("officials", 5),
    ("network", 5),
    ("letters", 5),
    ("signing", 5),
    ("transmit", 5),
    ("ops", 5),
    ("http", 6),
    ("dev", 7),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The production text of a file: without its test module and without comments. A file of
/// tests alone (`#![cfg(test)]` before any code) has none.
fn production(text: &str) -> String {
    let first_code = text.lines().map(|l| code(l).trim()).find(|l| !l.is_empty());
    if first_code == Some("#![cfg(test)]") {
        return String::new();
    }
    // The test module (`#[cfg(test)] mod …`) ends each file; other `#[cfg(test)]` items count.
    let mut end = text.len();
    for (i, _) in text.match_indices("#[cfg(test)]") {
        if text[i + "#[cfg(test)]".len()..]
            .trim_start()
            .starts_with("mod ")
        {
            end = i;
            break;
        }
    }
    let text = &text[..end];
    text.lines().map(code).collect::<Vec<_>>().join("\n")
}

/// A line without its comment: from the first `//` outside a string literal (a URL in a
/// string does not hide what follows it).
fn code(line: &str) -> &str {
    let mut quotes = 0;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quotes += 1,
            '/' if quotes % 2 == 0 && line[i..].starts_with("//") => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Top-level modules named after `crate::`, as a path or inside a `use crate::{…}` group.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: the first word after `{` and after each comma at
            // depth zero.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        out.insert(word(&group[j..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(word(rest));
        }
    }
    out
}

/// Which top-level module each file belongs to, and what it imports; the crate root and the
/// binary (`main.rs`, `cli/`) stand above every layer and are left out.
fn imports() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut by_module: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).expect("under src");
        let first = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if ["lib", "main", "cli"].contains(&first.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read source");
        for target in crate_refs(&production(&text)) {
            if target != first && LAYERS.iter().any(|(m, _)| *m == target) {
                by_module
                    .entry(first.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    by_module
}

fn layer(module: &str) -> u8 {
    LAYERS.iter().find(|(m, _)| *m == module).map_or_else(
        || panic!("top-level module {module} has no layer in LAYERS: add it"),
        |(_, l)| *l,
    )
}

#[test]
fn every_top_level_module_has_a_layer() {
    let text = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    for line in text.lines() {
        let line = line.trim();
        if let Some(m) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
        {
            layer(m.trim_end_matches(';'));
        }
    }
}

#[test]
fn modules_import_only_their_layer_and_below() {
    let mut wrong = Vec::new();
    for (from, targets) in imports() {
        for (to, files) in targets {
            if layer(&to) > layer(&from) {
                wrong.push(format!(
                    "{from} (layer {}) imports {to} (layer {}) in {files:?}",
                    layer(&from),
                    layer(&to)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "imports upward:\n{}", wrong.join("\n"));
}

// A depth-first search for a back edge, reporting the cycle it closes.
fn visit(
    m: &str,
    graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|p| p == m) {
        let mut cycle = path[i..].to_vec();
        cycle.push(m.to_owned());
        return Some(cycle);
    }
    if done.contains(m) {
        return None;
    }
    path.push(m.to_owned());
    for to in graph.get(m).into_iter().flat_map(BTreeMap::keys) {
        if let Some(c) = visit(to, graph, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(m.to_owned());
    None
}

#[test]
fn no_import_cycle_among_top_level_modules() {
    let graph = imports();
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            let hops: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} {:?}", w[0], w[1], graph[&w[0]][&w[1]]))
                .collect();
            panic!("import cycle:\n{}", hops.join("\n"));
        }
    }
}

#[test]
fn the_checker_sees_grouped_and_nested_imports() {
    let refs = crate_refs(&production(
        "use crate::{letters::documents::{self, Caller}, node::Node,\n    store};\n\
         // crate::http in a comment\nfn f() { crate::audit::verify(); }\n\
         let u = \"https://x\"; crate::ops::backup::run(); // crate::dev\n\
         #[cfg(test)]\nmod tests { use crate::dev::quickstart; }",
    ));
    let want: BTreeSet<String> = ["letters", "node", "store", "audit", "ops"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(refs, want);
}

/// Every product source file of the workspace's crates (not their tests).
fn product_files() -> Vec<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in ["docsvc", "keymgr", "hsm-shim", "policies"] {
        rust_files(&workspace.join(krate).join("src"), &mut files);
    }
    files
}

#[test]
fn sql_lives_in_the_store_layer_only() {
    let mut outside = Vec::new();
    for krate in ["docsvc", "keymgr"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(krate)
            .join("src");
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        for f in files {
            let rel = f.strip_prefix(&root).expect("under src");
            if rel.starts_with("store") {
                continue;
            }
            let text = production(&std::fs::read_to_string(&f).expect("read source"));
            if text.contains("sqlx") {
                outside.push(format!("{krate}/src/{}", rel.display()));
            }
        }
    }
    assert!(outside.is_empty(), "sqlx outside store/: {outside:?}");
}

#[test]
fn no_product_file_is_too_long_to_walk() {
    let mut long = Vec::new();
    for f in product_files() {
        let text = std::fs::read_to_string(&f).expect("read source");
        let lines = text.lines().count();
        if lines > 800 {
            long.push(format!("{} ({lines} lines)", f.display()));
        }
        if text.contains("clippy::too_many_lines") {
            long.push(format!("{} (allows clippy::too_many_lines)", f.display()));
        }
    }
    assert!(long.is_empty(), "split these: {long:?}");
}
