//! Reloading: a new snapshot read from the same sources, and what changed.

use std::sync::Arc;

use super::load::{LoadArgs, Loaded, load};
use super::resolved::Snapshot;
use super::{Conf, ConfigErrors, Registry};

/// How a reload applies new values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadMethod {
    /// Every option takes its new value; workers are replaced.
    Reload,
    /// Only options marked `mutable` change, in place.
    Mutate,
}

impl ReloadMethod {
    /// Reads the `restart_method` option's value.
    pub fn from_option(value: &str) -> ReloadMethod {
        if value == "mutate" {
            ReloadMethod::Mutate
        } else {
            ReloadMethod::Reload
        }
    }
}

/// A validated new configuration and how it differs from the current one.
#[derive(Debug)]
pub struct Reloaded {
    /// The configuration to apply.
    pub conf: Conf,
    /// Options whose value changed and was applied, as `group.name`.
    pub changed: Vec<String>,
    /// Options whose value changed in the files but that need a restart to
    /// take effect (`mutate` mode only), as `group.name`.
    pub needs_restart: Vec<String>,
    /// Warnings found while loading.
    pub warnings: Vec<String>,
}

/// Reads every source again and validates it.
///
/// # Errors
///
/// Every problem of the new configuration; the current one is untouched.
pub fn reload(
    registry: &Arc<Registry>,
    args: &LoadArgs,
    current: &Conf,
    method: ReloadMethod,
) -> Result<Reloaded, ConfigErrors> {
    let Loaded { conf, warnings } = load(registry, args)?;
    let changed_keys = current.snapshot().changed_options(conf.snapshot());
    let is_mutable =
        |(group, name): &(String, String)| registry.option(group, name).is_some_and(|o| o.mutable);
    let qualified = |(group, name): &(String, String)| format!("{group}.{name}");
    if method == ReloadMethod::Reload {
        let changed = changed_keys.iter().map(qualified).collect();
        return Ok(Reloaded {
            conf,
            changed,
            needs_restart: Vec::new(),
            warnings,
        });
    }
    let (mutable, immutable): (Vec<_>, Vec<_>) = changed_keys.into_iter().partition(is_mutable);
    let snapshot = merge_mutable(current.snapshot(), conf.snapshot(), &mutable);
    let conf = Conf::build(registry.clone(), snapshot)?;
    Ok(Reloaded {
        conf,
        changed: mutable.iter().map(qualified).collect(),
        needs_restart: immutable.iter().map(qualified).collect(),
        warnings,
    })
}

/// The current snapshot with the new values of the `mutable` options.
fn merge_mutable(current: &Snapshot, newer: &Snapshot, mutable: &[(String, String)]) -> Snapshot {
    let mut merged = current.clone();
    for (group, name) in mutable {
        let options = merged.values.entry(group.clone()).or_default();
        match newer.get(group, name) {
            Some(value) => {
                options.insert(name.clone(), value.clone());
            }
            None => {
                options.remove(name);
            }
        }
    }
    merged.files.clone_from(&newer.files);
    merged
}
