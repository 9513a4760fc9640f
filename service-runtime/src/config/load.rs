//! Reading every source into a [`Snapshot`], with oslo.config's precedence.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::interp::{self, Lookup, Resolver};
use super::registry::Registry;
use super::resolved::{RawValue, Resolved, Snapshot, is_missing_required};
use super::sources::{self, ReadFile};
use super::spec::OptionSpec;
use super::{Conf, ConfigError, ConfigErrors, DEFAULT_GROUP, MASK, Source, ini, reading_position};

/// A `--config-file` or `--config-dir` argument, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceArg {
    /// One file.
    File(PathBuf),
    /// A directory whose `*.conf` files are read in name order.
    Dir(PathBuf),
}

/// Everything a load reads, so that a reload can read it again.
#[derive(Clone, Debug, Default)]
pub struct LoadArgs {
    /// Files and directories in command-line order. Without a `File`, the
    /// default file of `project` (or `prog`) is read first; without a
    /// `Dir`, its default directory.
    pub sources: Vec<SourceArg>,
    /// The project name used for the default search; empty for none.
    pub project: String,
    /// The program's name, searched after the project when it differs, as
    /// oslo.config does; empty for none.
    pub prog: String,
    /// Values given as command-line flags: group, option, raw value, flag.
    pub cli_values: Vec<(String, String, String, String)>,
    /// The environment, as captured at start-up.
    pub env: Vec<(String, String)>,
}

/// A loaded configuration and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The validated configuration.
    pub conf: Conf,
    /// Deprecated names used, unknown keys in declared groups and the like.
    pub warnings: Vec<String>,
}

/// Reads every source and validates every option.
///
/// # Errors
///
/// Every problem found: unreadable or missing files, syntax errors, bad
/// values, missing required options, unresolvable references.
pub fn load(registry: &Arc<Registry>, args: &LoadArgs) -> Result<Loaded, ConfigErrors> {
    load_checking(registry, args, &|_, _| Vec::new())
}

/// [`load`], with `check` run over the values read even when some of them
/// are bad, so that the problems it finds are reported with the others,
/// all in reading order.
pub(crate) fn load_checking(
    registry: &Arc<Registry>,
    args: &LoadArgs,
    check: &dyn Fn(&Registry, &Snapshot) -> Vec<ConfigError>,
) -> Result<Loaded, ConfigErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let files = sources::read_all(args, &mut errors);
    let unread_files = !errors.is_empty();
    let mut values = collect_file_values(registry, &files, &mut warnings);
    apply_env(registry, &args.env, &mut values);
    apply_cli(&args.cli_values, &mut values);
    warn_deprecated_for_removal(registry, &values, &mut warnings);
    add_defaults_with_references(registry, &mut values);
    let values = substitute_all(registry, values, &mut errors);

    let paths = files.into_iter().map(|f| f.path).collect();
    let snapshot = Snapshot {
        files: paths,
        values,
    };
    let mut checked = check(registry, &snapshot);
    let order = Snapshot {
        files: snapshot.files.clone(),
        values: Values::new(),
    };
    let mut value_errors = match Conf::build(registry.clone(), snapshot) {
        Ok(conf) if errors.is_empty() && checked.is_empty() => {
            return Ok(Loaded { conf, warnings });
        }
        Ok(_) => Vec::new(),
        // A file that could not be read may well set the option: saying
        // it is missing would send the operator to the wrong place.
        Err(ConfigErrors(more)) => more
            .into_iter()
            .filter(|error| !(unread_files && is_missing_required(error)))
            .collect(),
    };
    value_errors.append(&mut checked);
    value_errors.sort_by_key(|error| reading_position(&order, error));
    errors.extend(value_errors);
    Err(ConfigErrors(errors))
}

type Values = BTreeMap<String, BTreeMap<String, Resolved>>;

/// The group a section name stands for: `DEFAULT` exactly, or the name in
/// lower case.
fn section_group(name: &str) -> String {
    if name == DEFAULT_GROUP {
        name.to_string()
    } else {
        name.to_lowercase()
    }
}

fn collect_file_values(
    registry: &Registry,
    files: &[ReadFile],
    warnings: &mut Vec<String>,
) -> Values {
    let mut values = Values::new();
    for option in registry.options() {
        let found = occurrences(option, files, warnings);
        if found.is_empty() {
            continue;
        }
        let kept = if option.multi {
            found
        } else {
            found.into_iter().last().into_iter().collect()
        };
        let group = values.entry(option.group.to_string()).or_default();
        group.insert(option.name.to_string(), Resolved { values: kept });
    }
    warn_unknown_keys(registry, files, warnings);
    values
}

/// The entries of one file set under `group` and `key`, in line order.
/// Sections that fold into one group (`[vnc]`, `[VNC]`) may interleave;
/// oslo.config takes their values in file order.
fn entries_in<'f>(file: &'f ReadFile, group: &str, key: &str) -> Vec<&'f ini::Entry> {
    let mut entries: Vec<&ini::Entry> = file
        .parsed
        .sections
        .iter()
        .filter(|section| section_group(&section.name) == group)
        .flat_map(|section| section.entries.iter().filter(|e| e.key == key))
        .collect();
    entries.sort_by_key(|entry| entry.line);
    entries
}

/// Every value an option is given in the files, in reading order.
///
/// Within one file a single-valued option takes the last value of the
/// first of its names that is set there, its current name first: when a
/// file sets both `new` and its deprecated `old`, `new` wins wherever it
/// stands, as in oslo.config. A multi-valued option takes the values of
/// every name, deprecated names first, as oslo.config orders them.
fn occurrences(
    option: &OptionSpec,
    files: &[ReadFile],
    warnings: &mut Vec<String>,
) -> Vec<RawValue> {
    let alternatives = option.alternatives();
    let mut found = Vec::new();
    for file in files {
        let mut per_name: Vec<(usize, Vec<&ini::Entry>)> = alternatives
            .iter()
            .enumerate()
            .map(|(rank, (group, key))| (rank, entries_in(file, group, key)))
            .filter(|(_, entries)| !entries.is_empty())
            .collect();
        if per_name.is_empty() {
            continue;
        }
        if !option.multi {
            for (rank, entries) in &per_name[1..] {
                warn_shadowed(file, option, alternatives[*rank], entries, warnings);
            }
            per_name.truncate(1);
        }
        per_name.reverse();
        for (rank, entries) in per_name {
            if rank > 0 {
                warn_deprecated_name(file, option, alternatives[rank], &entries, warnings);
            }
            found.extend(entries.into_iter().map(|entry| RawValue {
                text: entry.value.clone(),
                source: Source::File {
                    path: file.path.clone(),
                    line: entry.line,
                },
            }));
        }
    }
    found
}

fn warn_deprecated_name(
    file: &ReadFile,
    option: &OptionSpec,
    (group, key): (&str, &str),
    entries: &[&ini::Entry],
    warnings: &mut Vec<String>,
) {
    for entry in entries {
        warnings.push(format!(
            "{}:{}: [{group}] {key} is deprecated, use [{}] {} instead",
            file.path.display(),
            entry.line,
            option.group,
            option.name
        ));
    }
}

fn warn_shadowed(
    file: &ReadFile,
    option: &OptionSpec,
    (group, key): (&str, &str),
    entries: &[&ini::Entry],
    warnings: &mut Vec<String>,
) {
    for entry in entries {
        warnings.push(format!(
            "{}:{}: [{group}] {key} is ignored: it is a deprecated name of [{}] {}, \
             which this file also sets",
            file.path.display(),
            entry.line,
            option.group,
            option.name
        ));
    }
}

/// Keys in a group that declares options but not that key: likely typos.
/// `[DEFAULT]` is left alone: libraries share it and each reads its own keys.
fn warn_unknown_keys(registry: &Registry, files: &[ReadFile], warnings: &mut Vec<String>) {
    let declared: Vec<&str> = registry.group_names();
    let known = |group: &str, key: &str| {
        registry
            .options()
            .any(|o| o.alternatives().contains(&(group, key)))
    };
    for file in files {
        for section in &file.parsed.sections {
            let group = section_group(&section.name);
            if !declared.contains(&group.as_str()) || group == DEFAULT_GROUP {
                continue;
            }
            for entry in section.entries.iter().filter(|e| !known(&group, &e.key)) {
                warnings.push(format!(
                    "{}:{}: [{}] {} is not a known option; ignored",
                    file.path.display(),
                    entry.line,
                    group,
                    entry.key
                ));
            }
        }
    }
}

fn apply_env(registry: &Registry, env: &[(String, String)], values: &mut Values) {
    for option in registry.options() {
        let var = option.env_name();
        if let Some((_, text)) = env.iter().rev().find(|(name, _)| *name == var) {
            let raw = RawValue {
                text: text.clone(),
                source: Source::Env { var },
            };
            let group = values.entry(option.group.to_string()).or_default();
            group.insert(option.name.to_string(), Resolved { values: vec![raw] });
        }
    }
}

/// Command-line values replace every other source's, whatever their
/// position among `--config-file` arguments. Repeated flags of a
/// multi-valued option give all their values, in order.
fn apply_cli(cli_values: &[(String, String, String, String)], values: &mut Values) {
    let mut given: BTreeMap<(String, String), Vec<RawValue>> = BTreeMap::new();
    for (group, name, text, flag) in cli_values {
        let raw = RawValue {
            text: text.clone(),
            source: Source::Cli { flag: flag.clone() },
        };
        given
            .entry((group.clone(), name.clone()))
            .or_default()
            .push(raw);
    }
    for ((group, name), raws) in given {
        values
            .entry(group)
            .or_default()
            .insert(name, Resolved { values: raws });
    }
}

/// One warning per option marked `deprecated_for_removal` that a file,
/// variable or flag sets, with the reason (which names the replacement).
fn warn_deprecated_for_removal(registry: &Registry, values: &Values, warnings: &mut Vec<String>) {
    for option in registry.options().filter(|o| o.deprecated_for_removal) {
        let Some(resolved) = values.get(option.group).and_then(|g| g.get(option.name)) else {
            continue;
        };
        let reason = option
            .deprecated_reason
            .map_or_else(String::new, |reason| format!(" ({reason})"));
        warnings.push(format!(
            "{}: option [{}] {} is deprecated for removal{reason}; its value may be \
             ignored in a future release",
            resolved.source(),
            option.group,
            option.name
        ));
    }
}

/// Defaults holding a `$` become values of their own, so that references
/// in them are substituted like any other (`state_path = $basedir/state`).
fn add_defaults_with_references(registry: &Registry, values: &mut Values) {
    for option in registry.options() {
        let set = values
            .get(option.group)
            .is_some_and(|g| g.contains_key(option.name));
        let defaults = option.default_values();
        if set || !defaults.iter().any(|value| value.contains('$')) {
            continue;
        }
        let raws = defaults.into_iter().map(|text| RawValue {
            text: text.to_string(),
            source: Source::Default,
        });
        let group = values.entry(option.group.to_string()).or_default();
        let resolved = Resolved {
            values: raws.collect(),
        };
        group.insert(option.name.to_string(), resolved);
    }
}

struct SnapshotResolver<'a> {
    registry: &'a Registry,
    values: &'a Values,
}

impl Resolver for SnapshotResolver<'_> {
    fn lookup(&self, group: &str, name: &str) -> Lookup {
        if !self.registry.group_names().contains(&group) {
            return Lookup::NoSuchGroup;
        }
        let Some(option) = self.registry.option(group, name) else {
            return Lookup::NoSuchOption;
        };
        let raw = self
            .values
            .get(group)
            .and_then(|g| g.get(name))
            .and_then(Resolved::last);
        match raw {
            Some(raw) => Lookup::Found(raw.text.clone()),
            None => {
                let last_default = option.default_values().last().copied();
                Lookup::Found(last_default.unwrap_or_default().to_string())
            }
        }
    }

    fn is_group(&self, name: &str) -> bool {
        name != DEFAULT_GROUP && self.registry.group_names().contains(&name)
    }
}

fn substitute_all(registry: &Registry, values: Values, errors: &mut Vec<ConfigError>) -> Values {
    let resolver = SnapshotResolver {
        registry,
        values: &values,
    };
    let mut out = Values::new();
    for (group, options) in &values {
        for (name, resolved) in options {
            let secret = registry.option(group, name).is_some_and(|o| o.secret);
            let mut substituted = Vec::with_capacity(resolved.values.len());
            for raw in &resolved.values {
                match interp::substitute(&raw.text, group, &resolver) {
                    Ok(text) => substituted.push(RawValue {
                        text,
                        source: raw.source.clone(),
                    }),
                    Err(error) => {
                        let shown = if secret { MASK } else { raw.text.as_str() };
                        errors.push(ConfigError::for_option(
                            group,
                            name,
                            Some(raw.source.clone()),
                            Some(shown.to_string()),
                            error.to_string(),
                        ));
                    }
                }
            }
            let entry = out.entry(group.clone()).or_default();
            entry.insert(
                name.clone(),
                Resolved {
                    values: substituted,
                },
            );
        }
    }
    out
}
