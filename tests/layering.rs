//! The library's layering, checked against ARCHITECTURE.md: every `crate::` path in `src/` is read, and
//!
//! - a module uses only modules of its own layer or below (the `layers` block of ARCHITECTURE.md);
//! - no two modules use each other, directly or through others (no import circle);
//! - `search` uses no `wal`, `manifest`, `files` or `storage`; `storage` uses nothing of the crate;
//! - the encoder uses only what ARCHITECTURE.md lists for it, and modules below the API name it only on
//!   lines under `#[cfg(feature = "encoder")]`.
//!
//! The second test plants violations of each rule and checks that every one is caught.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its top-level module (`lib` for lib.rs) and its text.
struct Source {
    module: String,
    path: String,
    text: String,
}

/// The `layers` block of ARCHITECTURE.md: layers top (API) first; the side module's allowed imports.
struct Layers {
    rank: BTreeMap<String, usize>,
    names: Vec<String>,
    side: BTreeMap<String, BTreeSet<String>>,
}

const FORBIDDEN: &[(&str, &[&str])] = &[("search", &["wal", "manifest", "files", "storage"]), ("storage", &["*"])];
const GATE: &str = "cfg(feature = \"encoder\")";

fn parse_layers(architecture: &str) -> Layers {
    let block = architecture
        .split("```layers")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has a ```layers block");
    let mut layers = Layers { rank: BTreeMap::new(), names: Vec::new(), side: BTreeMap::new() };
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (name, modules) = line.split_once(':').expect("`layer: modules` lines");
        if let Some((side, allowed)) = modules.split_once("->") {
            let allowed = allowed.split_whitespace().map(String::from).collect();
            layers.side.insert(side.trim().to_string(), allowed);
            continue;
        }
        let rank = layers.names.len();
        layers.names.push(name.trim().to_string());
        for m in modules.split_whitespace() {
            layers.rank.insert(m.to_string(), rank);
        }
    }
    layers
}

fn read_sources(dir: &Path, root: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap();
            let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
            let module = first.strip_suffix(".rs").unwrap_or(&first).to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(Source { module, path: rel.display().to_string(), text });
        }
    }
}

/// Names re-exported at the crate root (`pub use module::{A, B}` in lib.rs) → their module.
fn reexports(sources: &[Source]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let lib = sources.iter().find(|s| s.module == "lib").expect("src/lib.rs");
    for line in lib.text.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else { continue };
        let Some((module, names)) = rest.split_once("::") else { continue };
        for name in names.trim_end_matches(';').trim_matches(|c| c == '{' || c == '}').split(',') {
            map.insert(name.trim().to_string(), module.to_string());
        }
    }
    map
}

/// The top-level modules a line names through `crate::` paths (comments removed).
fn referenced(line: &str, reexports: &BTreeMap<String, String>) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = after.strip_prefix('{') {
            group.split('}').next().unwrap_or("").split(',').collect()
        } else {
            vec![after]
        };
        for name in names {
            let ident: String = name.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if ident.is_empty() {
                continue;
            }
            let module = if ident.starts_with(char::is_uppercase) {
                reexports.get(&ident).cloned().unwrap_or_else(|| "lib".into())
            } else {
                ident
            };
            found.push(module);
        }
        rest = after;
    }
    found
}

/// Every violation of the rules in the module documentation, one line each.
fn check(architecture: &str, sources: &[Source]) -> Vec<String> {
    let layers = parse_layers(architecture);
    let reexports = reexports(sources);
    let mut problems = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in sources {
        let from = &source.module;
        let from_rank = layers.rank.get(from);
        if from_rank.is_none() && !layers.side.contains_key(from) {
            problems.push(format!("{}: module `{from}` is in no layer of ARCHITECTURE.md", source.path));
            continue;
        }
        let mut previous = "";
        for (n, line) in source.text.lines().enumerate() {
            let at = format!("{}:{}", source.path, n + 1);
            for to in referenced(line, &reexports) {
                if &to == from {
                    continue;
                }
                edges.entry(from.clone()).or_default().insert(to.clone());
                if let Some(allowed) = layers.side.get(from) {
                    if !allowed.contains(&to) {
                        problems.push(format!("{at}: `{from}` may use only {allowed:?}, not `{to}`"));
                    }
                    continue;
                }
                if layers.side.contains_key(&to) {
                    let api = from_rank == Some(&0);
                    if !api && !line.contains(GATE) && !previous.contains(GATE) {
                        problems.push(format!("{at}: `{from}` names `{to}` outside #[{GATE}]"));
                    }
                    continue;
                }
                let Some(to_rank) = layers.rank.get(&to) else {
                    problems.push(format!("{at}: `{from}` uses `{to}`, which is in no layer of ARCHITECTURE.md"));
                    continue;
                };
                if let Some(&from_rank) = from_rank {
                    if *to_rank < from_rank {
                        problems.push(format!(
                            "{at}: `{from}` ({}) uses `{to}`, a layer above ({})",
                            layers.names[from_rank], layers.names[*to_rank]
                        ));
                    }
                }
                for (module, banned) in FORBIDDEN {
                    if from == module && (banned.contains(&to.as_str()) || banned.contains(&"*")) {
                        problems.push(format!("{at}: `{from}` must not use `{to}`"));
                    }
                }
            }
            if !line.trim().is_empty() {
                previous = line;
            }
        }
    }
    problems.extend(cycles(&edges));
    problems
}

/// One line per import circle found among the modules.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            found.push(format!("import circle: {}", circle.join(" -> ")));
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, found);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, edges, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn project() -> (String, Vec<Source>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut sources = Vec::new();
    read_sources(&root.join("src"), &root.join("src"), &mut sources);
    (architecture, sources)
}

#[test]
fn the_library_follows_the_layering_of_architecture_md() {
    let (architecture, sources) = project();
    assert!(sources.len() > 40, "read only {} files", sources.len());
    let problems = check(&architecture, &sources);
    assert!(problems.is_empty(), "layering violations:\n{}", problems.join("\n"));
}

#[test]
fn planted_violations_are_caught() {
    let (architecture, sources) = project();
    let plant = |module: &str, line: &str| -> Vec<String> {
        let mut planted: Vec<Source> = sources
            .iter()
            .map(|s| Source { module: s.module.clone(), path: s.path.clone(), text: s.text.clone() })
            .collect();
        let target = planted.iter_mut().find(|s| s.module == module).expect("module exists");
        target.text.push_str(&format!("\n{line}\n"));
        check(&architecture, &planted)
    };
    let upward = plant("segment", "use crate::engine::Engine;");
    assert!(upward.iter().any(|p| p.contains("`segment` (formats) uses `engine`")), "{upward:?}");
    let circle = plant("vector", "use crate::error::Error;");
    assert!(circle.iter().any(|p| p.starts_with("import circle:")), "{circle:?}");
    let search = plant("search", "use crate::wal::WalWriter;");
    assert!(search.iter().any(|p| p.contains("`search` must not use `wal`")), "{search:?}");
    let storage = plant("storage", "use crate::codec::crc32;");
    assert!(storage.iter().any(|p| p.contains("`storage` must not use `codec`")), "{storage:?}");
    let ungated = plant("options", "pub fn encoder_dims(e: &crate::encoder::Encoder) {}");
    assert!(ungated.iter().any(|p| p.contains("names `encoder` outside")), "{ungated:?}");
    let gated = plant("options", "#[cfg(feature = \"encoder\")]\npub fn encoder_dims(e: &crate::encoder::Encoder) {}");
    assert!(gated.is_empty(), "{gated:?}");
    let encoder = plant("encoder", "use crate::storage::Storage;");
    assert!(encoder.iter().any(|p| p.contains("`encoder` may use only")), "{encoder:?}");
    let grouped = plant("manifest", "use crate::{engine::Engine, vector::Quantizer};");
    assert!(grouped.iter().any(|p| p.contains("`manifest` (formats) uses `engine`")), "{grouped:?}");
}
