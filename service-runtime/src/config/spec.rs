//! The description of every option, as the macros register it.

use std::any::{Any, TypeId};

use super::value::Kind;
use super::{ConfigError, ResolvedGroup};

/// Everything known about one option: what `#[config_group]` generates for
/// each field.
#[derive(Clone, Debug)]
pub struct OptionSpec {
    /// The group (`DEFAULT` for the top level).
    pub group: &'static str,
    /// The option's name, also its key in files.
    pub name: &'static str,
    /// Help text, from the field's doc comment.
    pub help: &'static str,
    /// The oslo.config kind.
    pub kind: Kind,
    /// The Rust type of the field, as written.
    pub rust_type: &'static str,
    /// The default, rendered as a file would write it. `None` when the
    /// option has no default (an `Option<T>` field). A multi-valued option
    /// renders one value per line; [`OptionSpec::default_values`] splits
    /// them.
    pub default: Option<String>,
    /// What the sample file shows instead of the real default.
    pub sample_default: Option<&'static str>,
    /// Smallest allowed value, inclusive.
    pub min: Option<f64>,
    /// Largest allowed value, inclusive.
    pub max: Option<f64>,
    /// Allowed spellings for a closed set of values.
    pub choices: Option<&'static [&'static str]>,
    /// Shown as `****` wherever a value is shown.
    pub secret: bool,
    /// Takes a new value on reload without a restart.
    pub mutable: bool,
    /// Must be set by some source; starting without it is an error.
    pub required: bool,
    /// Has a command-line flag.
    pub cli: bool,
    /// Collects every occurrence (oslo's `MultiStrOpt`).
    pub multi: bool,
    /// Older names of the option, still read, with a warning.
    pub deprecated_names: &'static [&'static str],
    /// Older groups of the option, still read, with a warning.
    pub deprecated_groups: &'static [&'static str],
    /// The option is going away; setting it logs a warning.
    pub deprecated_for_removal: bool,
    /// Why the option is deprecated, and what replaces it.
    pub deprecated_reason: Option<&'static str>,
    /// Where the option was declared, `file:line`, for duplicate errors.
    pub declared_at: &'static str,
    /// Parses and checks one raw value, giving its JSON form.
    pub check: fn(&str) -> Result<serde_json::Value, String>,
}

impl OptionSpec {
    /// Whether two declarations describe the same option, so that declaring
    /// it twice is harmless (oslo.config's rule, minus the location).
    pub fn same_definition(&self, other: &OptionSpec) -> bool {
        self.differences(other).is_empty()
    }

    /// The attributes in which two declarations differ, by name.
    pub fn differences(&self, other: &OptionSpec) -> Vec<&'static str> {
        let pairs = [
            ("group", self.group == other.group),
            ("name", self.name == other.name),
            ("help", self.help == other.help),
            ("kind", self.kind == other.kind),
            ("type", self.rust_type == other.rust_type),
            ("default", self.default == other.default),
            (
                "sample_default",
                self.sample_default == other.sample_default,
            ),
            ("min", self.min == other.min),
            ("max", self.max == other.max),
            ("choices", self.choices == other.choices),
            ("secret", self.secret == other.secret),
            ("mutable", self.mutable == other.mutable),
            ("required", self.required == other.required),
            ("cli", self.cli == other.cli),
            ("multi", self.multi == other.multi),
            (
                "deprecated_name",
                self.deprecated_names == other.deprecated_names,
            ),
            (
                "deprecated_group",
                self.deprecated_groups == other.deprecated_groups,
            ),
            (
                "deprecated_for_removal",
                self.deprecated_for_removal == other.deprecated_for_removal,
            ),
            (
                "deprecated_reason",
                self.deprecated_reason == other.deprecated_reason,
            ),
        ];
        pairs
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(name, _)| name)
            .collect()
    }

    /// The default's values as a file would write them: one for a
    /// single-valued option, one per line for a multi-valued one (none for
    /// an empty list), none when there is no default.
    pub fn default_values(&self) -> Vec<&str> {
        match self.default.as_deref() {
            None => Vec::new(),
            Some("") if self.multi => Vec::new(),
            Some(text) if self.multi => text.split('\n').collect(),
            Some(text) => vec![text],
        }
    }

    /// Every `(group, name)` a file may set the option under, in priority
    /// order: its own first, then each deprecated name in its group, then
    /// each deprecated group with every name.
    pub fn alternatives(&self) -> Vec<(&'static str, &'static str)> {
        let names: Vec<&'static str> = std::iter::once(self.name)
            .chain(self.deprecated_names.iter().copied())
            .collect();
        std::iter::once(self.group)
            .chain(self.deprecated_groups.iter().copied())
            .flat_map(|group| names.iter().map(move |name| (group, *name)))
            .collect()
    }

    /// The command-line flags of a `cli` option, without dashes: its flag,
    /// and for a boolean also the `no` form that sets it to false.
    pub fn flags(&self) -> Vec<String> {
        if !self.cli {
            return Vec::new();
        }
        let flag = self.flag_name();
        if self.kind == Kind::Boolean && !self.multi {
            vec![format!("no{flag}"), flag]
        } else {
            vec![flag]
        }
    }

    /// `group.name`, the way messages name an option.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.group, self.name)
    }

    /// The command-line flag, without the leading dashes: `name` in
    /// `DEFAULT`, `group-name` elsewhere, as oslo.config spells it.
    pub fn flag_name(&self) -> String {
        if self.group == super::DEFAULT_GROUP {
            self.name.to_string()
        } else {
            format!("{}-{}", self.group, self.name)
        }
    }

    /// The environment variable oslo.config reads: `OS_<GROUP>__<NAME>`.
    pub fn env_name(&self) -> String {
        format!(
            "OS_{}__{}",
            self.group.to_uppercase(),
            self.name.to_uppercase()
        )
    }
}

/// Builds a group's typed struct, type-erased.
pub type BuildGroup =
    fn(&ResolvedGroup<'_>) -> Result<Box<dyn Any + Send + Sync>, Vec<ConfigError>>;

/// One `#[config_group]` struct, as registered with the runtime.
#[derive(Clone, Copy)]
pub struct GroupSpec {
    /// The group name.
    pub name: &'static str,
    /// The Rust type implementing the group.
    pub type_id: fn() -> TypeId,
    /// The options of the group.
    pub options: fn() -> Vec<OptionSpec>,
    /// Builds the typed struct from resolved values.
    pub build: BuildGroup,
}

impl std::fmt::Debug for GroupSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A struct annotated with `#[config_group]`.
pub trait ConfigGroup: Sized + Send + Sync + 'static {
    /// The group's name (`DEFAULT` for the top level).
    const GROUP: &'static str;

    /// The options the struct's fields declare.
    fn options() -> Vec<OptionSpec>;

    /// Builds the struct from resolved values, reporting every bad value.
    fn build(values: &ResolvedGroup<'_>) -> Result<Self, Vec<ConfigError>>;
}

/// Every group the program declares, collected at link time.
#[linkme::distributed_slice]
pub static CONFIG_GROUPS: [GroupSpec];

/// The registration record of `G`, for the macros.
pub const fn group_spec<G: ConfigGroup>() -> GroupSpec {
    GroupSpec {
        name: G::GROUP,
        type_id: TypeId::of::<G>,
        options: G::options,
        build: |values| G::build(values).map(|g| Box::new(g) as Box<dyn Any + Send + Sync>),
    }
}
