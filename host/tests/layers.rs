//! The host's modules depend on each other in one direction only (see
//! ARCHITECTURE.md): each may use the modules below it in `LAYERS`, never one
//! above it or beside it. Reads the sources as text: a `crate::name` path
//! anywhere in a module is a dependency on `name`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Top-level modules, highest first. `lib.rs`, `main.rs` and `config.rs`
/// wire everything together and are not layered; `bin/` holds other binaries.
const LAYERS: &[&[&str]] = &[
    &["http"],
    &["auth", "tasks"],
    &["sources"],
    &["runtime"],
    &["egress"],
    &["policy"],
    &["telemetry"],
    &["digest", "identity", "storage", "untrusted"],
];

/// The top-level modules a file or folder names through `crate::`.
fn uses(path: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            found.extend(uses(&entry.unwrap().path()));
        }
        return found;
    }
    let text = fs::read_to_string(path).unwrap();
    for (at, _) in text.match_indices("crate::") {
        let name: String = text[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        found.insert(name);
    }
    found
}

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&name))
}

#[test]
fn dependencies_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if ["lib", "main", "config", "bin"].contains(&name.as_str()) {
            continue;
        }
        let own = layer_of(&name).unwrap_or_else(|| panic!("module {name} is in no layer of LAYERS"));
        for used in uses(&path) {
            match layer_of(&used) {
                Some(layer) if layer > own || used == name => {}
                _ => wrong.push(format!("{name} uses crate::{used}")),
            }
        }
    }
    assert!(wrong.is_empty(), "dependencies against the layering:\n{}", wrong.join("\n"));
}
