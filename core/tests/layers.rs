//! The core's modules form layers (ARCHITECTURE.md, "Layers in the core"): a module may import
//! from its own layer and the layers below, never from above. This test reads the sources and
//! fails on any `crate::` path that points upwards, so an import circle cannot come back unseen.
//! Test code (`*tests.rs` files and everything after `#[cfg(test)]`) may reach anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom up. Modules on one line share a layer.
const LAYERS: &[&[&str]] = &[
    &["codes"],
    &["terms"],
    &["records"],
    &["error"],
    &["limits"],
    &["document"],
    &["rules"],
    &["protocol"],
    &["audit"],
    &["store"],
    &["sync", "attachments"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn leading_ident(s: &str) -> String {
    s.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The top-level modules a source file names through `crate::`, outside comments and tests.
fn imported_modules(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or("");
    let mut found = Vec::new();
    let mut in_group = false;
    for line in code.lines() {
        let mut rest = line.split("//").next().unwrap_or("");
        if !in_group {
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    // `use crate::{a::X, b::{Y, Z}};` names a and b, maybe over several lines.
                    in_group = true;
                    rest = group;
                    break;
                }
                found.push(leading_ident(rest));
            }
        }
        if in_group {
            // Only the top level of the group names modules: skip nested braces.
            let mut depth = 0usize;
            let mut top_level = String::new();
            for c in rest.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        in_group = false;
                        break;
                    }
                    '}' => depth -= 1,
                    _ if depth == 0 => top_level.push(c),
                    _ => {}
                }
            }
            for part in top_level.split(',') {
                let name = leading_ident(part);
                if !name.is_empty() && part.trim_start()[name.len()..].starts_with("::") {
                    found.push(name);
                }
            }
        }
    }
    found
}

#[test]
fn no_module_of_the_core_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unplaced = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let name = file.file_name().unwrap().to_string_lossy();
        if name.ends_with("tests.rs") || relative == "lib.rs" {
            continue;
        }
        let module = relative.split(['/', '.']).next().unwrap().to_string();
        let Some(own) = layer_of(&module) else {
            unplaced.push(module);
            continue;
        };
        for imported in imported_modules(&std::fs::read_to_string(file).unwrap()) {
            // `crate::Error` and `crate::Result` are the error layer's re-exports.
            let imported = match imported.as_str() {
                "Error" | "Result" => "error".to_string(),
                _ => imported,
            };
            match layer_of(&imported) {
                Some(layer) if layer <= own => {}
                Some(_) => upward.entry(relative.clone()).or_default().push(imported),
                None => unplaced.push(imported),
            }
        }
    }
    unplaced.sort();
    unplaced.dedup();
    assert_eq!(unplaced, Vec::<String>::new(), "modules missing from LAYERS");
    assert!(files.len() > 40, "the scan read {} files", files.len());
    assert_eq!(upward, BTreeMap::new(), "imports from a layer above");
}

#[test]
fn the_scan_sees_every_import_and_ignores_comments_and_tests() {
    let source = "//! mentions crate::store in a comment\n\
                  use crate::{document::{Author, X}, codes::Y};\n\
                  use crate::{\n    rules::Z,\n    error::E,\n};\n\
                  fn f() { crate::records::new_id(); } // and crate::sync here\n\
                  #[cfg(test)]\nuse crate::sync::Y;\n";
    assert_eq!(imported_modules(source), vec!["document", "codes", "rules", "error", "records"]);
}
