//! Configuration read the way oslo.config reads it.
//!
//! Options are declared with `#[config_group]`. Values come, from lowest to
//! highest precedence, from the declared defaults, the configuration files
//! (in command-line order, each `--config-dir` contributing its `*.conf`
//! files in name order; later wins), the environment (`OS_<GROUP>__<NAME>`)
//! and the command line. An explicit command-line value wins whatever its
//! position among `--config-file` arguments.
//!
//! A loaded configuration is an immutable [`Conf`] snapshot. Reloading reads
//! every source again into a new snapshot, or fails with every problem and
//! leaves the running one untouched.

mod error;
pub mod ini;
pub mod interp;
mod kinds;
mod load;
mod registry;
mod reload;
mod resolved;
pub mod sample;
mod sources;
mod spec;
mod value;
mod values;

pub use error::{ConfigError, ConfigErrors, Source};
pub use kinds::{Dict, HostAddress, HostDomain, Hostname, Port, QuotedString, Uri};
pub use load::Loaded;
pub(crate) use load::load_checking;
pub use load::{LoadArgs, SourceArg, load};
pub use registry::{RUNTIME_FLAGS, Registry};
pub use reload::{OptionChange, ReloadMethod, Reloaded, reload};
pub(crate) use reload::{reload_checking, with_values_from};
pub use resolved::{RawValue, Resolved, ResolvedGroup, Snapshot};
pub use spec::{CONFIG_GROUPS, ConfigGroup, GroupSpec, OptionSpec, group_spec};
pub use value::{Kind, OptionValue};

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

/// The name of the top-level group.
pub const DEFAULT_GROUP: &str = "DEFAULT";

/// What `--print-config` shows for a secret value.
pub const MASK: &str = "****";

/// A validated configuration: every group's typed struct, and where each
/// value came from. Cheap to clone.
#[derive(Clone)]
pub struct Conf {
    inner: Arc<ConfInner>,
}

struct ConfInner {
    groups: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    snapshot: Snapshot,
    registry: Arc<Registry>,
}

impl std::fmt::Debug for Conf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conf")
            .field("files", &self.inner.snapshot.files)
            .finish_non_exhaustive()
    }
}

impl Conf {
    /// Builds the typed groups from resolved values.
    ///
    /// # Errors
    ///
    /// Every bad value of every group.
    pub fn build(registry: Arc<Registry>, snapshot: Snapshot) -> Result<Conf, ConfigErrors> {
        let mut groups = HashMap::new();
        let mut errors: Vec<ConfigError> = Vec::new();
        for spec in registry.groups() {
            let view = ResolvedGroup::new(spec.name, &snapshot, &registry);
            match (spec.build)(&view) {
                Ok(group) => {
                    groups.insert((spec.type_id)(), Arc::from(group));
                }
                Err(found) => {
                    for error in found {
                        if !errors.contains(&error) {
                            errors.push(error);
                        }
                    }
                }
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|error| reading_position(&snapshot, error));
            return Err(ConfigErrors(errors));
        }
        let inner = ConfInner {
            groups,
            snapshot,
            registry,
        };
        Ok(Conf {
            inner: Arc::new(inner),
        })
    }

    /// The typed options of group `G`.
    ///
    /// # Panics
    ///
    /// If `G` is not linked into the program, which the `#[config_group]`
    /// macro makes impossible for its own structs.
    pub fn group<G: ConfigGroup>(&self) -> &G {
        self.inner
            .groups
            .get(&TypeId::of::<G>())
            .and_then(|group| group.downcast_ref::<G>())
            .expect("every #[config_group] struct is registered with the runtime")
    }

    /// The effective value of an option as JSON, `None` when it is unset or
    /// unknown. Secret values are returned unmasked: mask before showing.
    pub fn value(&self, group: &str, name: &str) -> Option<serde_json::Value> {
        let option = self.inner.registry.option(group, name)?;
        let resolved = self.inner.snapshot.get(group, name);
        resolved::json_value(option, resolved)
    }

    /// The value of an integer option, for the launcher's worker count.
    pub fn integer(&self, group: &str, name: &str) -> Option<i64> {
        self.value(group, name)?.as_i64()
    }

    /// The resolved values this configuration was built from.
    pub fn snapshot(&self) -> &Snapshot {
        &self.inner.snapshot
    }

    /// The declared options.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The options whose effective value differs in `newer`, `DEFAULT`
    /// first, then by group and name. Values are compared as typed values,
    /// so `workers = 03` after `workers = 3` is no change, and neither is
    /// setting an option to its default; secret values are masked.
    pub fn diff(&self, newer: &Conf) -> Vec<OptionChange> {
        let mut secrets = self.secret_texts();
        secrets.extend(newer.secret_texts());
        secrets.sort_by_key(|text| std::cmp::Reverse(text.len()));
        self.inner
            .registry
            .options()
            .filter_map(|option| {
                let old = self.value(option.group, option.name);
                let new = newer.value(option.group, option.name);
                (old != new).then(|| {
                    let mut change = OptionChange::new(option, old, new);
                    mask_secret_texts(&mut change.old, &secrets);
                    mask_secret_texts(&mut change.new, &secrets);
                    change
                })
            })
            .collect()
    }

    /// The values of the secret options that are set, as text, longest
    /// first. Another option can hold one through a reference
    /// (`${group.password}`), so these are masked inside every value shown;
    /// like the log, texts shorter than
    /// [`MIN_MASKED_SECRET_LEN`](crate::logging::MIN_MASKED_SECRET_LEN) are
    /// not searched for.
    pub(crate) fn secret_texts(&self) -> Vec<String> {
        let mut texts = Vec::new();
        for option in self.inner.registry.options().filter(|o| o.secret) {
            if let Some(value) = self.value(option.group, option.name) {
                collect_texts(&value, &mut texts);
            }
        }
        texts.retain(|text| text.chars().count() >= crate::logging::MIN_MASKED_SECRET_LEN);
        texts.sort_by_key(|text| std::cmp::Reverse(text.len()));
        texts.dedup();
        texts
    }

    /// Each option's effective value, as shown to people: secrets masked.
    pub fn effective_values(&self) -> Vec<EffectiveValue> {
        let secrets = self.secret_texts();
        self.inner
            .registry
            .options()
            .map(|option| {
                let resolved = self.inner.snapshot.get(option.group, option.name);
                let mut value = EffectiveValue::new(option, resolved);
                mask_secret_texts(&mut value.value, &secrets);
                value
            })
            .collect()
    }
}

/// The texts in a value: strings and numbers, inside lists and maps too.
fn collect_texts(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => into.push(text.clone()),
        serde_json::Value::Number(number) => into.push(number.to_string()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_texts(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_texts(v, into)),
        serde_json::Value::Null | serde_json::Value::Bool(_) => {}
    }
}

/// Replaces each of `secrets` by [`MASK`] inside the strings of `value`.
fn mask_secret_texts(value: &mut serde_json::Value, secrets: &[String]) {
    match value {
        serde_json::Value::String(text) => {
            for secret in secrets {
                if text.contains(secret.as_str()) {
                    *text = text.replace(secret.as_str(), MASK);
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| mask_secret_texts(v, secrets));
        }
        serde_json::Value::Object(map) => {
            map.values_mut().for_each(|v| mask_secret_texts(v, secrets));
        }
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
    }
}

/// Where an error's input was read, so that errors are reported in the
/// order the operator wrote them: file by file and line by line, then the
/// environment, the flags, the defaults, and errors without a source.
pub(super) fn reading_position(snapshot: &Snapshot, error: &ConfigError) -> (u8, usize, usize) {
    match &error.source {
        Some(Source::File { path, line }) => {
            let file = snapshot.files.iter().position(|read| read == path);
            (0, file.unwrap_or(usize::MAX), *line)
        }
        Some(Source::Env { .. }) => (1, 0, 0),
        Some(Source::Cli { .. }) => (2, 0, 0),
        Some(Source::Default) => (3, 0, 0),
        None => (4, 0, 0),
    }
}

/// One option's value as `--print-config` and the logs show it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EffectiveValue {
    /// The group.
    pub group: String,
    /// The option.
    pub name: String,
    /// The value, `****` for a secret that is set.
    pub value: serde_json::Value,
    /// Where the value came from.
    pub source: Source,
    /// Whether the option can change on reload without a restart.
    pub mutable: bool,
}

impl EffectiveValue {
    fn new(option: &OptionSpec, resolved: Option<&Resolved>) -> Self {
        let value = resolved::json_value(option, resolved).unwrap_or(serde_json::Value::Null);
        let value = if option.secret && !value.is_null() {
            serde_json::Value::String(MASK.to_string())
        } else {
            value
        };
        let source = resolved.map_or(Source::Default, Resolved::source);
        EffectiveValue {
            group: option.group.to_string(),
            name: option.name.to_string(),
            value,
            source,
            mutable: option.mutable,
        }
    }
}
