//! The configuration layer through its public API: real files in temporary
//! directories, loaded with `config::load` against registries made of
//! `#[config_group]` structs.
//!
//! Each registry is built from the groups a test names, never from every
//! group linked into this binary: several tests declare the same option on
//! purpose, identically or not.

// Many test groups exist for their declarations only; their fields are
// never read.
#![allow(dead_code)]

mod cases;
mod errors;
mod precedence;
mod reload;
mod sample;

use std::path::PathBuf;
use std::sync::Arc;

use service_runtime::config::{
    ConfigErrors, GroupSpec, LoadArgs, Loaded, Registry, Source, SourceArg, load,
};

/// A temporary directory to write configuration files into.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Default for Files {
    fn default() -> Self {
        Files::new()
    }
}

impl Files {
    /// A fresh, empty directory, removed when dropped.
    pub fn new() -> Self {
        Files {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Writes `text` to `name` (which may contain `/`) and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A registry of exactly `groups`, which must not conflict.
pub fn registry(groups: impl IntoIterator<Item = GroupSpec>) -> Arc<Registry> {
    let registry = Registry::from_groups(groups)
        .unwrap_or_else(|errors| panic!("the test groups conflict: {errors:?}"));
    Arc::new(registry)
}

/// Loads `sources` without any default file search.
pub fn load_sources(
    registry: &Arc<Registry>,
    sources: Vec<SourceArg>,
) -> Result<Loaded, ConfigErrors> {
    let args = LoadArgs {
        sources,
        ..LoadArgs::default()
    };
    load(registry, &args)
}

/// Loads the given files, in order.
pub fn load_files(registry: &Arc<Registry>, files: &[&PathBuf]) -> Result<Loaded, ConfigErrors> {
    let sources = files
        .iter()
        .map(|f| SourceArg::File((*f).clone()))
        .collect();
    load_sources(registry, sources)
}

/// The loaded value of an option, as JSON (`null` when unset).
pub fn value(loaded: &Loaded, group: &str, name: &str) -> serde_json::Value {
    loaded
        .conf
        .value(group, name)
        .unwrap_or(serde_json::Value::Null)
}

/// Where the value of an option came from.
pub fn source(loaded: &Loaded, group: &str, name: &str) -> Source {
    loaded
        .conf
        .effective_values()
        .into_iter()
        .find(|v| v.group == group && v.name == name)
        .map(|v| v.source)
        .expect("the option is declared")
}

/// Every error of a failed load, as displayed.
pub fn messages(result: Result<Loaded, ConfigErrors>) -> Vec<String> {
    match result {
        Ok(loaded) => panic!("expected errors, loaded {:?}", loaded.conf),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

/// The one error of a failed load.
pub fn single_message(result: Result<Loaded, ConfigErrors>) -> String {
    let messages = messages(result);
    assert_eq!(messages.len(), 1, "expected one error, got {messages:#?}");
    messages.into_iter().next().unwrap()
}

/// Whether file permissions bind this process (root reads every file).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
