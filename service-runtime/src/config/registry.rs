//! All declared options of the program, checked for conflicting duplicates.

use std::collections::BTreeMap;

use super::spec::{CONFIG_GROUPS, GroupSpec, OptionSpec};
use super::{ConfigError, DEFAULT_GROUP};

/// The flags every service's command line has, which no option may take.
pub const RUNTIME_FLAGS: &[&str] = &[
    "config-file",
    "config-dir",
    "workers",
    "generate-config",
    "check-config",
    "print-config",
    "help",
    "version",
];

/// The options of every `#[config_group]` linked into the program.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    groups: Vec<GroupSpec>,
    options: BTreeMap<(String, String), OptionSpec>,
}

impl Registry {
    /// Collects every group registered by the macros.
    ///
    /// # Errors
    ///
    /// An option declared twice with different definitions, naming both
    /// places (oslo.config's `DuplicateOptError`), and two command-line
    /// options that would share a flag.
    pub fn from_program() -> Result<Registry, Vec<ConfigError>> {
        Registry::from_groups(CONFIG_GROUPS.iter().copied())
    }

    /// Builds a registry from explicit groups.
    ///
    /// # Errors
    ///
    /// As [`Registry::from_program`].
    pub fn from_groups(
        groups: impl IntoIterator<Item = GroupSpec>,
    ) -> Result<Registry, Vec<ConfigError>> {
        let mut registry = Registry::default();
        let mut errors = Vec::new();
        for group in groups {
            for option in (group.options)() {
                if let Err(error) = registry.add_option(option) {
                    errors.push(*error);
                }
            }
            registry.groups.push(group);
        }
        errors.extend(registry.flag_conflicts());
        if errors.is_empty() {
            Ok(registry)
        } else {
            Err(errors)
        }
    }

    fn add_option(&mut self, option: OptionSpec) -> Result<(), Box<ConfigError>> {
        let key = (option.group.to_string(), option.name.to_string());
        match self.options.get(&key) {
            Some(existing) if existing.same_definition(&option) => Ok(()),
            Some(existing) => Err(Box::new(ConfigError::for_option(
                option.group,
                option.name,
                None,
                None,
                format!(
                    "duplicate option: declared differently at {} and at {} (they differ in: {})",
                    existing.declared_at,
                    option.declared_at,
                    existing.differences(&option).join(", ")
                ),
            ))),
            None => {
                self.options.insert(key, option);
                Ok(())
            }
        }
    }

    /// Two `cli` options that would take the same flag, or an option that
    /// would take one of the runtime's own flags. A boolean takes two flags,
    /// `--name` and `--noname`, so `[DEFAULT] nodebug` and a boolean
    /// `[DEFAULT] debug` collide, as do a boolean `[probe] x` and an option
    /// `x` of a group `noprobe`.
    fn flag_conflicts(&self) -> Vec<ConfigError> {
        let mut seen: BTreeMap<String, &OptionSpec> = BTreeMap::new();
        let mut errors = Vec::new();
        for option in self.options.values() {
            for flag in option.flags() {
                if RUNTIME_FLAGS.contains(&flag.as_str()) {
                    errors.push(ConfigError::for_option(
                        option.group,
                        option.name,
                        None,
                        None,
                        format!(
                            "duplicate command-line flag --{flag}: the runtime's own flag \
                             (option declared at {}); rename the option or drop `cli`",
                            option.declared_at
                        ),
                    ));
                    continue;
                }
                if let Some(first) = seen.insert(flag.clone(), option) {
                    errors.push(ConfigError::for_option(
                        option.group,
                        option.name,
                        None,
                        None,
                        format!(
                            "duplicate command-line flag --{flag}: used by {} ({}) and {} ({})",
                            first.qualified_name(),
                            first.declared_at,
                            option.qualified_name(),
                            option.declared_at
                        ),
                    ));
                }
            }
        }
        errors
    }

    /// The registered groups, in registration order.
    pub fn groups(&self) -> &[GroupSpec] {
        &self.groups
    }

    /// Every option, `DEFAULT` first, then by group and name.
    pub fn options(&self) -> impl Iterator<Item = &OptionSpec> {
        let defaults = self.options.values().filter(|o| o.group == DEFAULT_GROUP);
        let others = self.options.values().filter(|o| o.group != DEFAULT_GROUP);
        defaults.chain(others)
    }

    /// The option `name` of `group`.
    pub fn option(&self, group: &str, name: &str) -> Option<&OptionSpec> {
        self.options.get(&(group.to_string(), name.to_string()))
    }

    /// The distinct group names, `DEFAULT` first, then alphabetically.
    pub fn group_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.options.values().map(|o| o.group).collect();
        names.sort_by_key(|name| (*name != DEFAULT_GROUP, *name));
        names.dedup();
        names
    }
}
