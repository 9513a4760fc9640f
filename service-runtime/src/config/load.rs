//! Reading every source into a [`Snapshot`], with oslo.config's precedence.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::interp::{self, Lookup, Resolver};
use super::registry::Registry;
use super::resolved::{RawValue, Resolved, Snapshot};
use super::spec::OptionSpec;
use super::{Conf, ConfigError, ConfigErrors, DEFAULT_GROUP, Source, ini};

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
    /// Files and directories in command-line order. When empty, the
    /// default locations of `project` are searched.
    pub sources: Vec<SourceArg>,
    /// The project name used for the default search.
    pub project: String,
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
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let files = read_sources(args, &mut errors);
    let mut values = collect_file_values(registry, &files, &mut warnings);
    apply_env(registry, &args.env, &mut values);
    apply_cli(&args.cli_values, &mut values);
    let values = substitute_all(registry, values, &mut errors);
    let paths = files.into_iter().map(|f| f.path).collect();
    let snapshot = Snapshot {
        files: paths,
        values,
    };
    let conf = Conf::build(registry.clone(), snapshot);
    match conf {
        Ok(conf) if errors.is_empty() => Ok(Loaded { conf, warnings }),
        Ok(_) => Err(ConfigErrors(errors)),
        Err(ConfigErrors(more)) => {
            errors.extend(more);
            Err(ConfigErrors(errors))
        }
    }
}

struct ReadFile {
    path: PathBuf,
    parsed: ini::IniFile,
}

fn read_sources(args: &LoadArgs, errors: &mut Vec<ConfigError>) -> Vec<ReadFile> {
    let sources = if args.sources.is_empty() {
        default_sources(&args.project)
    } else {
        args.sources.clone()
    };
    let mut files = Vec::new();
    for source in sources {
        match source {
            SourceArg::File(path) => files.extend(read_file(&path, errors)),
            SourceArg::Dir(dir) => {
                for path in dir_files(&dir, errors) {
                    files.extend(read_file(&path, errors));
                }
            }
        }
    }
    files
}

/// oslo.config's default search: `<project>.conf` and `<project>.conf.d`
/// in `~/.<project>/`, `~/`, `/etc/<project>/` and `/etc/`; the first file
/// found and the first directory found are read.
fn default_sources(project: &str) -> Vec<SourceArg> {
    if project.is_empty() {
        return Vec::new();
    }
    let mut places = Vec::new();
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        places.push(home.join(format!(".{project}")));
        places.push(home);
    }
    places.push(PathBuf::from("/etc").join(project));
    places.push(PathBuf::from("/etc"));
    let file = places
        .iter()
        .map(|p| p.join(format!("{project}.conf")))
        .find(|p| p.is_file());
    let dir = places
        .iter()
        .map(|p| p.join(format!("{project}.conf.d")))
        .find(|p| p.is_dir());
    file.map(SourceArg::File)
        .into_iter()
        .chain(dir.map(SourceArg::Dir))
        .collect()
}

fn read_file(path: &Path, errors: &mut Vec<ConfigError>) -> Option<ReadFile> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            errors.push(unreadable(path, &error, "config file"));
            return None;
        }
    };
    match ini::parse(&bytes) {
        Ok(parsed) => Some(ReadFile {
            path: path.to_path_buf(),
            parsed,
        }),
        Err(error) => {
            let source = Source::File {
                path: path.to_path_buf(),
                line: error.line(),
            };
            errors.push(ConfigError::general(Some(source), error.to_string()));
            None
        }
    }
}

fn unreadable(path: &Path, error: &std::io::Error, what: &str) -> ConfigError {
    let message = match error.kind() {
        ErrorKind::NotFound => format!("{what} not found: {}", path.display()),
        ErrorKind::PermissionDenied => {
            format!(
                "{what} not readable (permission denied): {}",
                path.display()
            )
        }
        _ => format!("{what} could not be read: {}: {error}", path.display()),
    };
    ConfigError::general(None, message)
}

/// The `*.conf` files of a directory, sorted by name, dot-files skipped.
fn dir_files(dir: &Path, errors: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            errors.push(unreadable(dir, &error, "config dir"));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".conf") && !name.starts_with('.')
        })
        .collect();
    files.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    files
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

/// Every value an option is given in the files, in reading order, through
/// its current or deprecated group and name.
fn occurrences(
    option: &OptionSpec,
    files: &[ReadFile],
    warnings: &mut Vec<String>,
) -> Vec<RawValue> {
    let groups = std::iter::once(option.group).chain(option.deprecated_groups.iter().copied());
    let groups: Vec<&str> = groups.collect();
    let names = std::iter::once(option.name).chain(option.deprecated_names.iter().copied());
    let names: Vec<&str> = names.collect();
    let mut found = Vec::new();
    for file in files {
        // Sections that fold into one group ([vnc], [VNC]) may interleave;
        // oslo.config collects their values in file order.
        let mut in_file: Vec<&ini::Entry> = Vec::new();
        for section in &file.parsed.sections {
            let group = section_group(&section.name);
            if !groups.contains(&group.as_str()) {
                continue;
            }
            for entry in section
                .entries
                .iter()
                .filter(|e| names.contains(&e.key.as_str()))
            {
                if group != option.group || entry.key != option.name {
                    warnings.push(format!(
                        "{}:{}: [{}] {} is deprecated, use [{}] {} instead",
                        file.path.display(),
                        entry.line,
                        group,
                        entry.key,
                        option.group,
                        option.name
                    ));
                }
                in_file.push(entry);
            }
        }
        in_file.sort_by_key(|entry| entry.line);
        for entry in in_file {
            let source = Source::File {
                path: file.path.clone(),
                line: entry.line,
            };
            found.push(RawValue {
                text: entry.value.clone(),
                source,
            });
        }
    }
    if option.deprecated_for_removal && !found.is_empty() {
        let reason = option
            .deprecated_reason
            .unwrap_or("it will be removed in a future release");
        warnings.push(format!(
            "option [{}] {} is deprecated: {reason}",
            option.group, option.name
        ));
    }
    found
}

/// Keys in a group that declares options but not that key: likely typos.
fn warn_unknown_keys(registry: &Registry, files: &[ReadFile], warnings: &mut Vec<String>) {
    let declared: Vec<&str> = registry.group_names();
    for file in files {
        for section in &file.parsed.sections {
            let group = section_group(&section.name);
            if !declared.contains(&group.as_str()) || group == DEFAULT_GROUP {
                continue;
            }
            for entry in &section.entries {
                let known = registry.options().any(|o| {
                    (o.group == group || o.deprecated_groups.contains(&group.as_str()))
                        && (o.name == entry.key || o.deprecated_names.contains(&entry.key.as_str()))
                });
                if !known {
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
            None => Lookup::Found(option.default.clone().unwrap_or_default()),
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
            let mut substituted = Vec::with_capacity(resolved.values.len());
            for raw in &resolved.values {
                match interp::substitute(&raw.text, group, &resolver) {
                    Ok(text) => substituted.push(RawValue {
                        text,
                        source: raw.source.clone(),
                    }),
                    Err(error) => errors.push(ConfigError::for_option(
                        group,
                        name,
                        Some(raw.source.clone()),
                        None,
                        error.to_string(),
                    )),
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
