//! The configuration reader against oslo.config itself.
//!
//! `tests/data/oslo-configs/` holds real and hand-written configuration
//! files, each with `NAME.expected.json` recording what oslo.config 10.7.0
//! made of it (see the README there). These tests walk the `real/` and
//! `edge/` folders, so a new file with its expected JSON is tested without
//! touching this code, and compare file by file:
//!
//! - the raw parse: sections as written, keys in order, every value, or the
//!   error with its line;
//! - the sections folded into groups;
//! - `$` substitution, in a world where every key of the file is a string
//!   option without default in its group;
//! - the scenario folders (`args.txt` + `expected.json`): several files read
//!   together through [`service_runtime::config::load`].
//!
//! Every mismatch is reported with the file it comes from.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use service_runtime::config::ini::{self, IniError, IniFile};
use service_runtime::config::interp::{self, Lookup, Resolver, SubstitutionFailure};
use service_runtime::config::{
    ConfigErrors, DEFAULT_GROUP, GroupSpec, Kind, LoadArgs, OptionSpec, Registry, Source, SourceArg,
};

// ---------------------------------------------------------------------------
// The expected JSON
// ---------------------------------------------------------------------------

/// A JSON object with its keys in file order (serde_json's map sorts them).
#[derive(Debug, PartialEq)]
struct Ordered<V>(Vec<(String, V)>);

impl<V> Ordered<V> {
    fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }

        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

/// Sections or groups: name -> key -> every value.
type Tables = Ordered<Ordered<Vec<String>>>;

#[derive(Deserialize)]
struct ExpectedFile {
    parse: ExpectedParse,
    normalized: Option<Tables>,
    resolved: Option<ExpectedResolved>,
}

#[derive(Deserialize)]
struct ExpectedParse {
    ok: bool,
    sections: Option<Tables>,
    error: Option<ExpectedError>,
}

#[derive(Deserialize)]
struct ExpectedError {
    kind: String,
    message: String,
    lineno: Option<usize>,
    line: Option<String>,
    bad_byte_offset: Option<usize>,
    bad_byte_line: Option<usize>,
}

#[derive(Deserialize)]
struct ExpectedResolved {
    ok: bool,
    error: Option<ExpectedException>,
    #[serde(default)]
    inputs: Vec<String>,
    groups: Ordered<Ordered<ExpectedOption>>,
    skipped: Vec<ExpectedSkip>,
}

#[derive(Deserialize)]
struct ExpectedOption {
    values: Vec<String>,
    last: Option<String>,
    file: Option<String>,
    as_str_opt: ExpectedValue,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ExpectedValue {
    Text(String),
    Failed { error: ExpectedException },
}

#[derive(Debug, Deserialize)]
struct ExpectedException {
    #[serde(rename = "type")]
    kind: String,
    message: String,
}

#[derive(Deserialize)]
struct ExpectedSkip {
    group: String,
    key: String,
}

#[derive(Deserialize)]
struct ExpectedScenario {
    args: Vec<String>,
    per_file: Ordered<ExpectedPerFile>,
    resolved: ExpectedResolved,
}

#[derive(Deserialize)]
struct ExpectedPerFile {
    parse: ExpectedParse,
    normalized: Option<Tables>,
}

// ---------------------------------------------------------------------------
// Finding the cases
// ---------------------------------------------------------------------------

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/oslo-configs")
}

/// The expected file of an input, named the way the corpus's `oracle.py`
/// names it: one known extension replaced by `.expected.json`.
fn expected_path(input: &Path) -> PathBuf {
    let name = input
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = [".conf", ".ini", ".yaml", ".json"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext).filter(|stem| !stem.is_empty()))
        .unwrap_or(name);
    input.with_file_name(format!("{stem}.expected.json"))
}

struct Case {
    input: PathBuf,
    expected: ExpectedFile,
}

impl Case {
    fn name(&self) -> String {
        let relative = self
            .input
            .strip_prefix(corpus_root())
            .unwrap_or(&self.input);
        relative.display().to_string()
    }
}

/// The folders to walk: `real/` and `edge/`, plus any folders listed in
/// `OSLO_CORPUS_DIRS` (separated like `PATH`), for checking files of your
/// own after running `oracle.py regen` on them.
fn corpus_folders() -> Vec<PathBuf> {
    let mut folders = vec![corpus_root().join("real"), corpus_root().join("edge")];
    if let Some(extra) = std::env::var_os("OSLO_CORPUS_DIRS") {
        folders.extend(std::env::split_paths(&extra));
    }
    folders
}

/// Every input file of the corpus folders. An input without expected file,
/// or an expected file without input, is a mistake in the corpus and fails.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut orphans = Vec::new();
    for folder in corpus_folders() {
        let folder = folder.as_path();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
            .unwrap_or_else(|e| panic!("corpus folder {folder:?} unreadable: {e}"))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.is_file())
            .collect();
        paths.sort();
        for path in &paths {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if let Some(stem) = name.strip_suffix(".expected.json") {
                let has_input = paths
                    .iter()
                    .any(|p| *p != *path && expected_path(p) == *path);
                if !has_input {
                    orphans.push(format!("{folder:?}: {name}: no input file named {stem}.*"));
                }
                continue;
            }
            let expected = expected_path(path);
            if !expected.is_file() {
                orphans.push(format!("{folder:?}: {name}: no {}", expected.display()));
                continue;
            }
            let text = std::fs::read_to_string(&expected).expect("expected file readable");
            let expected: ExpectedFile = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: bad expected JSON: {e}", expected.display()));
            cases.push(Case {
                input: path.clone(),
                expected,
            });
        }
    }
    assert!(
        orphans.is_empty(),
        "corpus files without a partner:\n{}",
        orphans.join("\n")
    );
    assert!(
        cases.len() >= 30,
        "only {} corpus files found under {:?}",
        cases.len(),
        corpus_root()
    );
    cases
}

/// Runs `check` on every case and fails with every mismatch, by file.
fn check_every_case(check: impl Fn(&Case, &[u8]) -> Vec<String>) {
    let mut report = Vec::new();
    let cases = cases();
    for case in &cases {
        let bytes = std::fs::read(&case.input).expect("input readable");
        let problems = check(case, &bytes);
        if !problems.is_empty() {
            report.push(format!("{}:\n  {}", case.name(), problems.join("\n  ")));
        }
    }
    assert!(
        report.is_empty(),
        "{} of {} corpus files differ from oslo.config:\n{}",
        report.len(),
        cases.len(),
        report.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Raw parse and groups
// ---------------------------------------------------------------------------

/// name -> key -> values, each level in first-appearance order.
type Table = Vec<(String, Vec<(String, Vec<String>)>)>;

fn sections_of(file: &IniFile) -> Table {
    let mut table = Table::new();
    for section in &file.sections {
        add_section(&mut table, section.name.clone(), section);
    }
    table
}

fn groups_of(file: &IniFile) -> Table {
    let mut table = Table::new();
    for section in &file.sections {
        add_section(&mut table, ini::group_name(&section.name), section);
    }
    table
}

fn add_section(table: &mut Table, name: String, section: &ini::Section) {
    let index = match table.iter().position(|(n, _)| *n == name) {
        Some(index) => index,
        None => {
            table.push((name, Vec::new()));
            table.len() - 1
        }
    };
    let keys = &mut table[index].1;
    for entry in &section.entries {
        match keys.iter_mut().find(|(k, _)| *k == entry.key) {
            Some((_, values)) => values.push(entry.value.clone()),
            None => keys.push((entry.key.clone(), vec![entry.value.clone()])),
        }
    }
}

fn table_of(expected: &Tables) -> Table {
    let keys = |keys: &Ordered<Vec<String>>| keys.0.clone();
    expected
        .0
        .iter()
        .map(|(name, k)| (name.clone(), keys(k)))
        .collect()
}

/// The first difference between two tables, in words.
fn table_difference(what: &str, ours: &Table, oslo: &Table) -> Option<String> {
    let names = |t: &Table| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    if names(ours) != names(oslo) {
        return Some(format!(
            "{what}: ours {:?}, oslo {:?}",
            names(ours),
            names(oslo)
        ));
    }
    for ((name, our_keys), (_, oslo_keys)) in ours.iter().zip(oslo) {
        let keys =
            |k: &[(String, Vec<String>)]| k.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        if keys(our_keys) != keys(oslo_keys) {
            let (ours, oslo) = (keys(our_keys), keys(oslo_keys));
            return Some(format!("keys of [{name}]: ours {ours:?}, oslo {oslo:?}"));
        }
        for ((key, ours), (_, oslo)) in our_keys.iter().zip(oslo_keys) {
            if ours != oslo {
                return Some(format!("[{name}] {key}: ours {ours:?}, oslo {oslo:?}"));
            }
        }
    }
    None
}

fn parse_problems(expected: &ExpectedParse, ours: &Result<IniFile, IniError>) -> Vec<String> {
    match (ours, &expected.error) {
        (Ok(file), None) if expected.ok => {
            let oslo = table_of(
                expected
                    .sections
                    .as_ref()
                    .expect("sections of a parsed file"),
            );
            table_difference("sections", &sections_of(file), &oslo)
                .into_iter()
                .collect()
        }
        (Err(error), Some(oslo)) => error_problems(error, oslo),
        (Ok(_), Some(oslo)) => vec![format!("parsed, but oslo rejects it: {}", oslo.message)],
        (Err(error), None) => vec![format!("rejected ({error}), but oslo parses it")],
        (Ok(_), None) => vec!["oslo's result is neither a parse nor an error".to_string()],
    }
}

fn error_problems(ours: &IniError, oslo: &ExpectedError) -> Vec<String> {
    let same = match (ours, oslo.kind.as_str()) {
        (
            IniError::Parse {
                line,
                message,
                text,
            },
            "parse",
        ) => {
            Some(*line) == oslo.lineno
                && *message == oslo.message
                && Some(text.as_str()) == oslo.line.as_deref()
        }
        (IniError::Decode { offset, line, .. }, "decode") => {
            Some(*offset) == oslo.bad_byte_offset && Some(*line) == oslo.bad_byte_line
        }
        _ => false,
    };
    if same {
        return Vec::new();
    }
    vec![format!(
        "error differs: ours {ours:?}; oslo {} at line {:?} ({:?}, line {:?}, bad byte at {:?})",
        oslo.kind, oslo.lineno, oslo.message, oslo.line, oslo.bad_byte_offset
    )]
}

#[test]
fn corpus_files_parse_as_oslo_config_parses_them() {
    check_every_case(|case, bytes| parse_problems(&case.expected.parse, &ini::parse(bytes)));
}

#[test]
fn corpus_sections_fold_into_the_groups_oslo_config_looks_up() {
    check_every_case(|case, bytes| {
        let (Ok(file), Some(oslo)) = (ini::parse(bytes), &case.expected.normalized) else {
            return Vec::new();
        };
        table_difference("groups", &groups_of(&file), &table_of(oslo))
            .into_iter()
            .collect()
    });
}

// ---------------------------------------------------------------------------
// Substitution in the oracle's world
// ---------------------------------------------------------------------------

/// oslo.config's own options in `DEFAULT`, with the value a `$name`
/// reference gets from them when a service is started with one
/// `--config-file`. A key of the same name in a file cannot be registered.
const BUILT_IN_OPTIONS: [&str; 4] = [
    "config_file",
    "config_dir",
    "config_source",
    "shell_completion",
];

fn built_in_value(name: &str, file_name: &str) -> Option<String> {
    match name {
        "config_file" => Some(format!("['{file_name}']")),
        "config_dir" | "config_source" => Some("[]".to_string()),
        "shell_completion" => Some(String::new()),
        _ => None,
    }
}

/// The oracle's world: every key of the file registered as a string option
/// without default in its group, except the keys oslo.config refuses.
struct World {
    file_name: String,
    groups: Vec<String>,
    /// (group, key, every value), in registration order.
    options: Vec<(String, String, Vec<String>)>,
    skipped: Vec<(String, String)>,
    /// Built-in options the file sets too: oslo.config then mixes the
    /// file's values into its own, which this world does not model.
    unmodelled: Vec<String>,
    /// Set when a substitution read an unmodelled built-in option.
    read_unmodelled: Cell<bool>,
}

impl World {
    fn new(file_name: &str, groups: &Table) -> World {
        let mut world = World {
            file_name: file_name.to_string(),
            groups: Vec::new(),
            options: Vec::new(),
            skipped: Vec::new(),
            unmodelled: Vec::new(),
            read_unmodelled: Cell::new(false),
        };
        for (group, keys) in groups {
            if group != DEFAULT_GROUP {
                world.groups.push(group.clone());
            }
            for (key, values) in keys {
                let built_in = group == DEFAULT_GROUP && BUILT_IN_OPTIONS.contains(&key.as_str());
                if built_in {
                    world.unmodelled.push(key.clone());
                }
                if key.starts_with('_') || built_in {
                    world.skipped.push((group.clone(), key.clone()));
                } else {
                    world
                        .options
                        .push((group.clone(), key.clone(), values.clone()));
                }
            }
        }
        world
    }

    fn values(&self, group: &str, key: &str) -> Option<&[String]> {
        let found = self.options.iter().find(|(g, k, _)| g == group && k == key);
        found.map(|(_, _, values)| values.as_slice())
    }
}

impl Resolver for World {
    fn lookup(&self, group: &str, name: &str) -> Lookup {
        if group != DEFAULT_GROUP && !self.is_group(group) {
            return Lookup::NoSuchGroup;
        }
        if let Some(values) = self.values(group, name) {
            return Lookup::Found(values.last().cloned().unwrap_or_default());
        }
        if group == DEFAULT_GROUP && self.unmodelled.iter().any(|n| n == name) {
            self.read_unmodelled.set(true);
        }
        let built_in = (group == DEFAULT_GROUP).then(|| built_in_value(name, &self.file_name));
        match built_in.flatten() {
            Some(value) => Lookup::Found(value),
            None => Lookup::NoSuchOption,
        }
    }

    fn is_group(&self, name: &str) -> bool {
        self.groups.iter().any(|g| g == name)
    }
}

/// Whether our failure is the exception oslo.config raised.
fn same_failure(ours: &SubstitutionFailure, oslo: &ExpectedException) -> bool {
    match (ours, oslo.kind.as_str()) {
        (SubstitutionFailure::NoSuchOption { group, name }, "NoSuchOptError") => {
            oslo.message == format!("no such option {name} in group [{group}]")
        }
        (SubstitutionFailure::NoSuchGroup { group }, "NoSuchGroupError") => {
            oslo.message == format!("no such group [{group}]")
        }
        (SubstitutionFailure::GroupNotValue { .. }, "TemplateSubstitutionError") => true,
        (SubstitutionFailure::Cycle { .. }, "RecursionError") => true,
        _ => false,
    }
}

/// What a single-valued string option `key` of `group` reads as.
fn str_opt_problem(world: &World, group: &str, key: &str, oslo: &ExpectedOption) -> Option<String> {
    let shadowed = group == DEFAULT_GROUP && world.is_group(key);
    if let ExpectedValue::Failed { error } = &oslo.as_str_opt {
        if error.kind == "ShadowedByGroup" {
            return (!shadowed)
                .then(|| format!("[{group}] {key}: oslo finds a group of that name"));
        }
    }
    if shadowed {
        return Some(format!(
            "[{group}] {key}: a group of that name should shadow it"
        ));
    }

    let last = oslo.last.as_deref().unwrap_or_default();
    world.read_unmodelled.set(false);
    let ours = interp::substitute(last, group, world);
    if world.read_unmodelled.get() {
        return None;
    }
    match (&ours, &oslo.as_str_opt) {
        (Ok(ours), ExpectedValue::Text(text)) if ours == text => None,
        (Err(error), ExpectedValue::Failed { error: oslo })
            if same_failure(&error.failure, oslo) =>
        {
            None
        }
        (ours, ExpectedValue::Text(text)) => Some(format!(
            "[{group}] {key} = {last:?}: ours {ours:?}, oslo {text:?}"
        )),
        (ours, ExpectedValue::Failed { error }) => Some(format!(
            "[{group}] {key} = {last:?}: ours {ours:?}, oslo {error:?}"
        )),
    }
}

fn resolved_problems(case: &Case, bytes: &[u8]) -> Vec<String> {
    let (Ok(file), Some(oslo)) = (ini::parse(bytes), &case.expected.resolved) else {
        return Vec::new();
    };
    if !oslo.ok {
        // oslo.config itself failed to start on this file, before any of the
        // test's options were read: a file can set oslo's own `config_file`
        // to a bad reference. There is nothing to compare.
        return Vec::new();
    }
    let file_name = case
        .input
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let world = World::new(file_name, &groups_of(&file));
    let mut problems = Vec::new();

    let oslo_skipped: Vec<(String, String)> = oslo
        .skipped
        .iter()
        .map(|s| (s.group.clone(), s.key.clone()))
        .collect();
    if world.skipped != oslo_skipped {
        problems.push(format!(
            "skipped keys: ours {:?}, oslo {oslo_skipped:?}",
            world.skipped
        ));
    }

    let oslo_options: Vec<(&str, &str)> = oslo
        .groups
        .0
        .iter()
        .flat_map(|(g, keys)| keys.0.iter().map(move |(k, _)| (g.as_str(), k.as_str())))
        .collect();
    let our_options: Vec<(&str, &str)> = world
        .options
        .iter()
        .map(|(g, k, _)| (g.as_str(), k.as_str()))
        .collect();
    if our_options != oslo_options {
        problems.push(format!(
            "options: ours {our_options:?}, oslo {oslo_options:?}"
        ));
        return problems;
    }

    for (group, keys) in &oslo.groups.0 {
        for (key, expected) in &keys.0 {
            let values = world.values(group, key).unwrap_or_default();
            if values != expected.values || values.last() != expected.last.as_ref() {
                problems.push(format!(
                    "[{group}] {key}: values {values:?}, oslo {:?}",
                    expected.values
                ));
            }
            problems.extend(str_opt_problem(&world, group, key, expected));
        }
    }
    problems
}

#[test]
fn corpus_references_substitute_as_oslo_config_substitutes_them() {
    check_every_case(resolved_problems);
}

// ---------------------------------------------------------------------------
// Several files through `load`
// ---------------------------------------------------------------------------

/// The options of the scenario being loaded. `GroupSpec` takes plain
/// functions, so the test hands them over through this static; scenarios
/// run one after another in a single test.
static SCENARIO_OPTIONS: Mutex<Vec<OptionSpec>> = Mutex::new(Vec::new());

struct ScenarioGroups;

fn scenario_options() -> Vec<OptionSpec> {
    SCENARIO_OPTIONS.lock().expect("scenario options").clone()
}

fn build_nothing(
    _: &service_runtime::config::ResolvedGroup<'_>,
) -> Result<Box<dyn Any + Send + Sync>, Vec<service_runtime::config::ConfigError>> {
    Ok(Box::new(()))
}

/// A key no file can hold (a key never contains `=`): declared in a group
/// whose keys are all refused, so that the group exists, as it does in
/// oslo.config for every section it reads.
const GROUP_MARKER: &str = "=marker";

fn string_option(group: &str, name: &str, multi: bool) -> OptionSpec {
    OptionSpec {
        group: Box::leak(group.to_string().into_boxed_str()),
        name: Box::leak(name.to_string().into_boxed_str()),
        help: "",
        kind: Kind::String,
        rust_type: "String",
        default: None,
        sample_default: None,
        min: None,
        max: None,
        choices: None,
        secret: false,
        mutable: false,
        required: false,
        cli: false,
        multi,
        deprecated_names: &[],
        deprecated_groups: &[],
        deprecated_for_removal: false,
        deprecated_reason: None,
        declared_at: concat!(file!(), ":", line!()),
        check: |raw| Ok(serde_json::Value::String(raw.to_string())),
    }
}

/// What oslo.config knew after loading a scenario: the groups of every
/// file, and the options the oracle registered, with their last values.
struct ScenarioWorld<'a> {
    resolved: &'a ExpectedResolved,
    groups: Vec<String>,
}

impl<'a> ScenarioWorld<'a> {
    fn new(expected: &'a ExpectedScenario) -> Self {
        let mut groups: Vec<String> = Vec::new();
        let per_file = expected
            .per_file
            .0
            .iter()
            .filter_map(|(_, f)| f.normalized.as_ref());
        for group in per_file.flat_map(|tables| tables.0.iter().map(|(g, _)| g)) {
            if group != DEFAULT_GROUP && !groups.contains(group) {
                groups.push(group.clone());
            }
        }
        ScenarioWorld {
            resolved: &expected.resolved,
            groups,
        }
    }

    /// A top-level option named like a group: oslo.config returns the group
    /// for it, so the oracle never read its value.
    fn shadowed(&self, group: &str, key: &str) -> bool {
        group == DEFAULT_GROUP && self.is_group(key)
    }

    /// A registry with one string option per registered key, all
    /// single-valued or all multi-valued, and a marker in empty groups.
    fn registry(&self, multi: bool) -> Arc<Registry> {
        let mut options = Vec::new();
        for (group, keys) in &self.resolved.groups.0 {
            options.extend(
                keys.0
                    .iter()
                    .map(|(key, _)| string_option(group, key, multi)),
            );
        }
        for group in &self.groups {
            if self.resolved.groups.get(group).is_none() {
                options.push(string_option(group, GROUP_MARKER, multi));
            }
        }
        *SCENARIO_OPTIONS.lock().expect("scenario options") = options;
        let spec = GroupSpec {
            name: "scenario",
            type_id: TypeId::of::<ScenarioGroups>,
            options: scenario_options,
            build: build_nothing,
        };
        Arc::new(Registry::from_groups([spec]).expect("scenario registry"))
    }
}

impl Resolver for ScenarioWorld<'_> {
    fn lookup(&self, group: &str, name: &str) -> Lookup {
        if group != DEFAULT_GROUP && !self.is_group(group) {
            return Lookup::NoSuchGroup;
        }
        let option = self
            .resolved
            .groups
            .get(group)
            .and_then(|keys| keys.get(name));
        match option {
            Some(option) => Lookup::Found(option.last.clone().unwrap_or_default()),
            None => Lookup::NoSuchOption,
        }
    }

    fn is_group(&self, name: &str) -> bool {
        self.groups.iter().any(|g| g == name)
    }
}

/// `--config-file F` / `--config-dir D` (also with `=`), relative to `base`.
fn source_args(args: &[String], base: &Path) -> Vec<SourceArg> {
    let mut split = Vec::new();
    for arg in args {
        match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                split.push(flag.to_string());
                split.push(value.to_string());
            }
            _ => split.push(arg.clone()),
        }
    }
    split
        .chunks(2)
        .map(|pair| match pair {
            [flag, path] if flag == "--config-file" => SourceArg::File(base.join(path)),
            [flag, path] if flag == "--config-dir" => SourceArg::Dir(base.join(path)),
            other => panic!("unsupported scenario arguments {other:?}"),
        })
        .collect()
}

fn scenario_problems(folder: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(folder.join("expected.json")).expect("expected.json");
    let expected: ExpectedScenario = serde_json::from_str(&text).expect("scenario JSON");
    let world = ScenarioWorld::new(&expected);
    let sources = source_args(&expected.args, folder);
    let mut problems = Vec::new();
    for multi in [false, true] {
        let args = LoadArgs {
            sources: sources.clone(),
            ..LoadArgs::default()
        };
        let loaded = service_runtime::config::load(&world.registry(multi), &args);
        let unresolved = unresolved_options(&world, multi);
        let found = match loaded {
            Ok(loaded) if expected.resolved.ok && unresolved.is_empty() => {
                loaded_problems(folder, &world, &loaded, multi)
            }
            Err(errors) if !expected.resolved.ok => {
                failed_load_problems(folder, &expected, &errors)
            }
            // Also when only top-level options named like a group failed.
            Err(errors) => unresolved_problems(&world, &unresolved, &errors),
            Ok(_) if unresolved.is_empty() => {
                vec![format!(
                    "loaded, but oslo fails: {:?}",
                    expected.resolved.error
                )]
            }
            Ok(_) => vec![format!("loaded, but oslo cannot resolve {unresolved:?}")],
        };
        let mode = if multi {
            "multi-valued"
        } else {
            "single-valued"
        };
        problems.extend(found.into_iter().map(|p| format!("{mode}: {p}")));
    }
    problems
}

/// Options whose references oslo.config cannot resolve; `load` reports
/// each as an error. A multi-valued option fails when any value does.
fn unresolved_options(world: &ScenarioWorld<'_>, multi: bool) -> Vec<(String, String)> {
    let mut unresolved = Vec::new();
    for (group, keys) in &world.resolved.groups.0 {
        for (key, oslo) in &keys.0 {
            let failed = if multi {
                oslo.values
                    .iter()
                    .any(|raw| interp::substitute(raw, group, world).is_err())
            } else {
                matches!(oslo.as_str_opt, ExpectedValue::Failed { .. })
            };
            if failed && !world.shadowed(group, key) {
                unresolved.push((group.clone(), key.clone()));
            }
        }
    }
    unresolved
}

/// `load` must name exactly the options oslo.config cannot resolve, give
/// or take those the oracle never read.
fn unresolved_problems(
    world: &ScenarioWorld<'_>,
    unresolved: &[(String, String)],
    errors: &ConfigErrors,
) -> Vec<String> {
    let named = errors.0.iter().filter_map(|e| e.option.clone());
    let mut named: Vec<(String, String)> = named.filter(|(g, k)| !world.shadowed(g, k)).collect();
    named.sort();
    named.dedup();
    let mut wanted = unresolved.to_vec();
    wanted.sort();
    if named == wanted {
        return Vec::new();
    }
    vec![format!(
        "errors name {named:?}, oslo cannot resolve {wanted:?}: {errors}"
    )]
}

/// Warnings other than "unknown key" for the keys oslo.config refuses to
/// register (and the test therefore does not declare).
fn unexpected_warnings<'a>(world: &ScenarioWorld<'_>, warnings: &'a [String]) -> Vec<&'a String> {
    let refused = |warning: &String| {
        world.resolved.skipped.iter().any(|skip| {
            warning.contains(&format!(
                "[{}] {} is not a known option",
                skip.group, skip.key
            ))
        })
    };
    warnings.iter().filter(|w| !refused(w)).collect()
}

fn loaded_problems(
    folder: &Path,
    world: &ScenarioWorld<'_>,
    loaded: &service_runtime::config::Loaded,
    multi: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let snapshot = loaded.conf.snapshot();
    let inputs: Vec<PathBuf> = world
        .resolved
        .inputs
        .iter()
        .map(|i| folder.join(i))
        .collect();
    if snapshot.files != inputs {
        problems.push(format!(
            "files read: ours {:?}, oslo {inputs:?}",
            snapshot.files
        ));
    }
    let warnings = unexpected_warnings(world, &loaded.warnings);
    if !warnings.is_empty() {
        problems.push(format!("unexpected warnings: {warnings:?}"));
    }

    for (group, keys) in &world.resolved.groups.0 {
        for (key, oslo) in &keys.0 {
            problems.extend(option_problem(
                folder,
                world,
                snapshot,
                (group, key),
                oslo,
                multi,
            ));
        }
    }
    problems
}

/// Compares one option: its value (every value when multi-valued, after
/// substitution) and the file the winning value came from.
fn option_problem(
    folder: &Path,
    world: &ScenarioWorld<'_>,
    snapshot: &service_runtime::config::Snapshot,
    (group, key): (&str, &str),
    oslo: &ExpectedOption,
    multi: bool,
) -> Option<String> {
    let Some(resolved) = snapshot.get(group, key) else {
        return Some(format!(
            "[{group}] {key}: no value, oslo has {:?}",
            oslo.values
        ));
    };
    let ours: Vec<&str> = resolved.values.iter().map(|v| v.text.as_str()).collect();
    let wanted: Vec<String> = match &oslo.as_str_opt {
        _ if multi => {
            let substitute = |raw: &String| interp::substitute(raw, group, world);
            oslo.values
                .iter()
                .map(|raw| substitute(raw).expect("checked by the caller"))
                .collect()
        }
        ExpectedValue::Text(text) => vec![text.clone()],
        ExpectedValue::Failed { .. } => ours.iter().map(|v| v.to_string()).collect(),
    };
    if ours != wanted {
        return Some(format!("[{group}] {key}: ours {ours:?}, oslo {wanted:?}"));
    }

    // The oracle names the file only when there are several.
    let inputs = &world.resolved.inputs;
    let single_input = inputs.first().filter(|_| inputs.len() == 1);
    let origin = oslo
        .file
        .as_ref()
        .or(single_input)
        .map(|file| folder.join(file));
    let our_origin = match resolved.source() {
        Source::File { path, .. } => Some(path),
        _ => None,
    };
    (our_origin != origin).then(|| format!("[{group}] {key}: from {our_origin:?}, oslo {origin:?}"))
}

/// A failed load must name the file oslo could not parse and its line.
fn failed_load_problems(
    folder: &Path,
    expected: &ExpectedScenario,
    errors: &ConfigErrors,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, per_file) in &expected.per_file.0 {
        let Some(oslo) = &per_file.parse.error else {
            continue;
        };
        let path = folder.join(name);
        let named = errors.0.iter().any(|error| {
            let at_line = match &error.source {
                Some(Source::File { path: p, line }) => *p == path && Some(*line) == oslo.lineno,
                _ => false,
            };
            at_line && error.message.contains(&oslo.message)
        });
        let shown = errors.to_string();
        let mentioned =
            shown.contains(&format!("{}:", path.display())) && shown.contains(&oslo.message);
        if !named || !mentioned {
            problems.push(format!(
                "error should name {name} line {:?} ({}): {shown}",
                oslo.lineno, oslo.message
            ));
        }
    }
    problems
}

/// The scenario folders: those under `edge/`, and those under the folders
/// of `OSLO_CORPUS_DIRS`.
fn scenario_folders() -> Vec<PathBuf> {
    let mut folders = Vec::new();
    for parent in corpus_folders() {
        let entries = std::fs::read_dir(&parent)
            .unwrap_or_else(|e| panic!("corpus folder {parent:?} unreadable: {e}"));
        let found = entries.map(|entry| entry.expect("directory entry").path());
        folders.extend(found.filter(|path| path.join("args.txt").is_file()));
    }
    folders.sort();
    folders
}

#[test]
fn scenarios_load_as_oslo_config_loads_them() {
    let folders = scenario_folders();
    assert!(
        folders.len() >= 2,
        "scenario folders missing under {:?}",
        corpus_root()
    );

    let mut report = Vec::new();
    for folder in &folders {
        let problems = scenario_problems(folder);
        if !problems.is_empty() {
            report.push(format!(
                "{}:\n  {}",
                folder.display(),
                problems.join("\n  ")
            ));
        }
    }
    assert!(
        report.is_empty(),
        "scenarios differ from oslo.config:\n{}",
        report.join("\n")
    );
}

/// The folding the corpus relies on, shown on its own: case variants of a
/// section are one group, in the order of first appearance.
#[test]
fn differently_cased_sections_share_a_group() {
    let file = ini::parse(b"[Database]\na = 1\n[database]\na = 2\n[DEFAULT]\nb = 3\n").unwrap();
    let groups: HashMap<String, Vec<(String, Vec<String>)>> =
        groups_of(&file).into_iter().collect();
    assert_eq!(
        groups["database"],
        [("a".to_string(), vec!["1".to_string(), "2".to_string()])]
    );
    assert_eq!(file.sections.len(), 3);
}
