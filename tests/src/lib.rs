//! # tests — end-to-end tests of Cairn
//!
//! `tests/templates.rs` runs every example journey in `flows/templates/` through the same code
//! path as `cairn simulate` and compares the journal with the committed expectation. Helpers
//! shared by the test files live here.

use std::path::{Path, PathBuf};

/// The fixed start of every template scenario.
pub const TEMPLATE_START: &str = "2026-12-30T08:00:00Z";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// The example flows, by name (`welcome`, `abandoned-cart`, …).
pub fn template_names() -> Vec<String> {
    let dir = repo_root().join("flows/templates");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("flows/templates exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".json")?;
            (!stem.contains('.')).then(|| stem.to_string())
        })
        .collect();
    names.sort();
    names
}

pub mod fakes;
pub mod service;
