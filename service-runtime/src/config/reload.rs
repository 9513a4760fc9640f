//! Reloading: a new snapshot read from the same sources, and what changed.

use std::fmt;
use std::sync::Arc;

use super::load::{LoadArgs, Loaded, load_checking};
use super::resolved::Snapshot;
use super::spec::OptionSpec;
use super::{Conf, ConfigError, ConfigErrors, MASK, Registry};

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

/// One option whose effective value differs between two configurations.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OptionChange {
    /// The group.
    pub group: String,
    /// The option.
    pub name: String,
    /// The value before, `null` when unset; `****` for a secret.
    pub old: serde_json::Value,
    /// The value after, `null` when unset; `****` for a secret.
    pub new: serde_json::Value,
    /// Whether the option may change without a restart.
    pub mutable: bool,
}

impl OptionChange {
    pub(crate) fn new(
        option: &OptionSpec,
        old: Option<serde_json::Value>,
        new: Option<serde_json::Value>,
    ) -> Self {
        let shown = |value: Option<serde_json::Value>| match value {
            None => serde_json::Value::Null,
            Some(_) if option.secret => serde_json::Value::String(MASK.to_string()),
            Some(value) => value,
        };
        OptionChange {
            group: option.group.to_string(),
            name: option.name.to_string(),
            old: shown(old),
            new: shown(new),
            mutable: option.mutable,
        }
    }

    /// `group.name`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.group, self.name)
    }
}

/// `option DEFAULT.debug changed from [false] to [true]`, the line
/// oslo.config logs for each change.
impl fmt::Display for OptionChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "option {} changed from [{}] to [{}]",
            self.qualified_name(),
            self.old,
            self.new
        )
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
    /// take effect, as `group.name`: in `mutate` mode the options not
    /// marked `mutable`; in both modes, once the launcher has checked, the
    /// options the main process applies only at start (listening sockets,
    /// worker count).
    pub needs_restart: Vec<String>,
    /// Every change found, applied or not, with old and new values.
    pub changes: Vec<OptionChange>,
    /// Warnings found while loading.
    pub warnings: Vec<String>,
}

/// Reads every source again and validates it.
///
/// With [`ReloadMethod::Reload`] every changed option takes its new value.
/// With [`ReloadMethod::Mutate`] only options marked `mutable` do; the other
/// changes are listed in `needs_restart` and the running values stay.
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
    reload_checking(registry, args, current, method, &|_, _| Vec::new())
}

/// [`reload`], with `check` run over the new values as at start, so that a
/// reload is rejected for what would stop a start (a log file that cannot
/// be opened, say) rather than abandoned once a new worker fails.
pub(crate) fn reload_checking(
    registry: &Arc<Registry>,
    args: &LoadArgs,
    current: &Conf,
    method: ReloadMethod,
    check: &dyn Fn(&Registry, &Snapshot) -> Vec<ConfigError>,
) -> Result<Reloaded, ConfigErrors> {
    let Loaded { conf, warnings } = load_checking(registry, args, check)?;
    let changes = current.diff(&conf);
    if method == ReloadMethod::Reload {
        return Ok(Reloaded {
            conf,
            changed: changes.iter().map(OptionChange::qualified_name).collect(),
            needs_restart: Vec::new(),
            changes,
            warnings,
        });
    }

    let (mutable, immutable): (Vec<&OptionChange>, Vec<&OptionChange>) =
        changes.iter().partition(|change| change.mutable);
    let snapshot = merge_mutable(current.snapshot(), conf.snapshot(), &mutable);
    let conf = Conf::build(registry.clone(), snapshot)?;
    Ok(Reloaded {
        conf,
        changed: mutable.iter().map(|c| c.qualified_name()).collect(),
        needs_restart: immutable.iter().map(|c| c.qualified_name()).collect(),
        changes,
        warnings,
    })
}

/// The current snapshot with the new values of the `mutable` options.
/// `base` with the values of the options of `changes` taken from
/// `source`; the list of files read stays that of `base`.
///
/// # Errors
///
/// When the combination is not valid (options checked together).
pub(crate) fn with_values_from(
    base: &Conf,
    source: &Conf,
    changes: &[&OptionChange],
) -> Result<Conf, ConfigErrors> {
    let mut snapshot = merge_mutable(base.snapshot(), source.snapshot(), changes);
    snapshot.files.clone_from(&base.snapshot().files);
    Conf::build(base.registry().clone(), snapshot)
}

fn merge_mutable(current: &Snapshot, newer: &Snapshot, mutable: &[&OptionChange]) -> Snapshot {
    let mut merged = current.clone();
    for change in mutable {
        let options = merged.values.entry(change.group.clone()).or_default();
        match newer.get(&change.group, &change.name) {
            Some(value) => {
                options.insert(change.name.clone(), value.clone());
            }
            None => {
                options.remove(&change.name);
            }
        }
    }
    merged.files.clone_from(&newer.files);
    merged
}
