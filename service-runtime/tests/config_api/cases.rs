//! The failure cases about configuration, replayed against the API. The
//! same cases run through real processes in the integration tests.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;
use service_runtime::config::{LoadArgs, Port, Registry, Source, SourceArg, group_spec, load};
use service_runtime::config_group;

use super::{Files, load_files, load_sources, messages, registry, single_message, source, value};

// B14: a trailing comma in a list option adds no empty item.

/// Lists of the trailing-comma case.
#[config_group(name = "DEFAULT")]
pub struct ListOpts {
    /// APIs to enable.
    #[opt(default = Vec::new())]
    pub enabled_apis: Vec<String>,

    /// Ports to listen on.
    #[opt(default = Vec::new())]
    pub ports: Vec<i64>,

    /// A list set to nothing.
    #[opt(default = vec!["unchanged".to_string()])]
    pub empty_list: Vec<String>,
}

#[test]
fn b14_trailing_commas_add_no_empty_item() {
    let files = Files::new();
    let file = files.write(
        "lists.conf",
        "[DEFAULT]\nenabled_apis = alpha, beta, gamma,\nports = 1,2,3,\nempty_list =\n",
    );
    let registry = registry([group_spec::<ListOpts>()]);
    let loaded = load_files(&registry, &[&file]).unwrap();

    let lists = loaded.conf.group::<ListOpts>();
    assert_eq!(lists.enabled_apis, ["alpha", "beta", "gamma"]);
    assert_eq!(lists.ports, [1, 2, 3]);
    assert!(lists.empty_list.is_empty());
    assert_eq!(value(&loaded, "DEFAULT", "ports"), json!([1, 2, 3]));
    assert_eq!(value(&loaded, "DEFAULT", "empty_list"), json!([]));
}

#[test]
fn b14_an_interior_empty_item_is_kept_for_strings_and_refused_for_integers() {
    let files = Files::new();
    let strings = files.write("strings.conf", "[DEFAULT]\nenabled_apis = a,,b\n");
    let registry = registry([group_spec::<ListOpts>()]);
    let loaded = load_files(&registry, &[&strings]).unwrap();
    assert_eq!(loaded.conf.group::<ListOpts>().enabled_apis, ["a", "", "b"]);

    let integers = files.write("integers.conf", "[DEFAULT]\nports = 1,,2\n");
    let message = single_message(load_files(&registry, &[&integers]));
    assert_eq!(
        message,
        format!(
            "{}:2: option [DEFAULT] ports: invalid value \"1,,2\": list item 2 is empty: \
             expected an integer, such as 42 or -7",
            integers.display()
        )
    );
}

// B16: configuration errors are specific and fatal.

/// The integer options of the bounds case.
#[config_group(name = "DEFAULT")]
pub struct BoundedOpts {
    /// Number of worker processes.
    #[opt(default = 1, min = 1)]
    pub workers: u32,

    /// An integer that must not be negative.
    #[opt(default = 5, min = 0)]
    pub floor: i32,

    /// An unsigned integer that must not be negative either.
    #[opt(default = 5, min = 0)]
    pub unsigned_floor: u32,

    /// An integer that must not be positive.
    #[opt(default = 0, max = 0)]
    pub ceiling: i32,

    /// A port; 0 asks the system for a free one.
    #[opt(default = Port(8080))]
    pub bind_port: Port,
}

#[test]
fn b16_a_value_of_the_wrong_type_names_file_line_group_option_value_and_type() {
    let files = Files::new();
    let file = files.write("bad.conf", "[DEFAULT]\n# workers\nworkers = four\n");
    let registry = registry([group_spec::<BoundedOpts>()]);
    let message = single_message(load_files(&registry, &[&file]));
    assert_eq!(
        message,
        format!(
            "{}:3: option [DEFAULT] workers: invalid value \"four\": \
             expected an integer, such as 42 or -7",
            file.display()
        )
    );
}

#[test]
fn b16_bounds_of_zero_are_checked_and_named_and_reported_together() {
    let files = Files::new();
    let file = files.write(
        "bounds.conf",
        "[DEFAULT]\nfloor = -1\nunsigned_floor = -1\nceiling = 1\n",
    );
    let registry = registry([group_spec::<BoundedOpts>()]);
    let found = messages(load_files(&registry, &[&file]));
    let path = file.display();
    assert_eq!(
        found,
        [
            format!(
                "{path}:2: option [DEFAULT] floor: invalid value \"-1\": \
                 should be greater than or equal to 0"
            ),
            format!(
                "{path}:3: option [DEFAULT] unsigned_floor: invalid value \"-1\": \
                 should be greater than or equal to 0"
            ),
            format!(
                "{path}:4: option [DEFAULT] ceiling: invalid value \"1\": \
                 should be less than or equal to 0"
            ),
        ]
    );
}

#[test]
fn b16_the_bounds_themselves_are_accepted() {
    let files = Files::new();
    let file = files.write(
        "edges.conf",
        "[DEFAULT]\nfloor = 0\nceiling = 0\nworkers = 1\n",
    );
    let registry = registry([group_spec::<BoundedOpts>()]);
    let loaded = load_files(&registry, &[&file]).unwrap();
    let opts = loaded.conf.group::<BoundedOpts>();
    assert_eq!((opts.floor, opts.ceiling, opts.workers), (0, 0, 1));
}

#[test]
fn b16_port_zero_is_accepted_and_means_any_port() {
    let files = Files::new();
    let file = files.write("port.conf", "[DEFAULT]\nbind_port = 0\n");
    let registry = registry([group_spec::<BoundedOpts>()]);
    let loaded = load_files(&registry, &[&file]).unwrap();
    let port = loaded.conf.group::<BoundedOpts>().bind_port;
    assert!(port.is_any());
    assert_eq!(port.get(), 0);
}

#[test]
fn b16_a_missing_config_dir_is_an_error_naming_it() {
    let files = Files::new();
    let missing = files.path("no-such-dir");
    let registry = registry([group_spec::<BoundedOpts>()]);
    let message = single_message(load_sources(
        &registry,
        vec![SourceArg::Dir(missing.clone())],
    ));
    assert_eq!(
        message,
        format!("config dir not found: {}", missing.display())
    );
}

#[test]
fn b16_a_missing_config_file_is_an_error_naming_it() {
    let files = Files::new();
    let missing = files.path("missing.conf");
    let registry = registry([group_spec::<BoundedOpts>()]);
    let message = single_message(load_files(&registry, &[&missing]));
    assert_eq!(
        message,
        format!("config file not found: {}", missing.display())
    );
}

#[test]
fn b16_an_unreadable_file_is_reported_as_permission_denied() {
    if super::is_root() {
        eprintln!(
            "note: running as root, which may read any file: the permission-denied case \
             is covered by the process test, which starts the service as another user"
        );
        return;
    }
    let files = Files::new();
    let locked = files.write("locked.conf", "[DEFAULT]\nworkers = 2\n");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let registry = registry([group_spec::<BoundedOpts>()]);
    let message = single_message(load_files(&registry, &[&locked]));
    assert_eq!(
        message,
        format!(
            "config file not readable (permission denied): {}",
            locked.display()
        )
    );
}

// B17: precedence of defaults, files, directories, environment and flags.

/// The worker count of the precedence case.
#[config_group(name = "DEFAULT")]
pub struct WorkerCount {
    /// Number of worker processes.
    #[opt(default = 1)]
    pub workers: u32,
}

struct B17 {
    files: Files,
    registry: std::sync::Arc<Registry>,
}

impl B17 {
    fn new() -> Self {
        let files = Files::new();
        files.write("a.conf", "[DEFAULT]\nworkers = 3\n");
        files.write("b.conf", "[DEFAULT]\nworkers = 7\n");
        files.write("d/10-x.conf", "[DEFAULT]\nworkers = 4\n");
        files.write("d/20-y.conf", "[DEFAULT]\nworkers = 6\n");
        files.write("d/30-z.txt", "[DEFAULT]\nworkers = 9\n");
        let registry = registry([group_spec::<WorkerCount>()]);
        B17 { files, registry }
    }

    fn file(&self, name: &str) -> SourceArg {
        SourceArg::File(self.files.path(name))
    }

    /// The worker count and its source for these sources and values.
    fn workers(&self, sources: Vec<SourceArg>, cli: Option<&str>, env: Option<&str>) -> u32 {
        let cli_values = cli.map(|count| {
            let workers = ("DEFAULT", "workers", count, "--workers");
            let (group, name, raw, flag) = workers;
            (group.into(), name.into(), raw.into(), flag.into())
        });
        let env = env.map(|count| ("OS_DEFAULT__WORKERS".to_string(), count.to_string()));
        let args = LoadArgs {
            sources,
            cli_values: cli_values.into_iter().collect(),
            env: env.into_iter().collect(),
            ..LoadArgs::default()
        };
        let loaded = load(&self.registry, &args).unwrap();
        loaded.conf.group::<WorkerCount>().workers
    }
}

#[test]
fn b17_a_file_beats_the_default_of_an_unset_flag() {
    let case = B17::new();
    assert_eq!(case.workers(vec![case.file("a.conf")], None, None), 3);
}

#[test]
fn b17_an_explicit_flag_beats_the_file() {
    let case = B17::new();
    assert_eq!(case.workers(vec![case.file("a.conf")], Some("5"), None), 5);
}

#[test]
fn b17_a_directory_after_a_file_wins_with_its_last_conf_file() {
    let case = B17::new();
    let dir = SourceArg::Dir(case.files.path("d"));
    assert_eq!(
        case.workers(vec![case.file("a.conf"), dir.clone()], None, None),
        6
    );
    assert_eq!(case.workers(vec![dir, case.file("a.conf")], None, None), 3);
}

#[test]
fn b17_the_later_file_wins() {
    let case = B17::new();
    let sources = vec![case.file("a.conf"), case.file("b.conf")];
    assert_eq!(case.workers(sources, None, None), 7);
}

#[test]
fn b17_the_environment_sits_between_files_and_flags() {
    let case = B17::new();
    assert_eq!(case.workers(vec![case.file("a.conf")], None, Some("8")), 8);
    assert_eq!(
        case.workers(vec![case.file("a.conf")], Some("5"), Some("8")),
        5
    );
}

#[test]
fn b17_each_value_names_its_source() {
    let case = B17::new();
    let args = LoadArgs {
        sources: vec![case.file("a.conf"), SourceArg::Dir(case.files.path("d"))],
        ..LoadArgs::default()
    };
    let loaded = load(&case.registry, &args).unwrap();
    let expected = Source::File {
        path: case.files.path("d/20-y.conf"),
        line: 2,
    };
    assert_eq!(source(&loaded, "DEFAULT", "workers"), expected);
    let read: Vec<_> = loaded.conf.snapshot().files.clone();
    let names = ["a.conf", "d/10-x.conf", "d/20-y.conf"];
    assert_eq!(read, names.map(|n| case.files.path(n)));
}

// B18: options declared twice, and keys given twice.

/// `[DEFAULT] workers` as one module declares it.
#[config_group(name = "DEFAULT")]
pub struct WorkersFromOneModule {
    /// Number of worker processes.
    #[opt(default = 1)]
    pub workers: u32,
}

/// `[DEFAULT] workers` as another module declares it, identically.
#[config_group(name = "DEFAULT")]
pub struct WorkersFromAnotherModule {
    /// Number of worker processes.
    #[opt(default = 1)]
    pub workers: u32,
}

/// `[DEFAULT] workers` with another default.
#[config_group(name = "DEFAULT")]
pub struct WorkersWithOtherDefault {
    /// Number of worker processes.
    #[opt(default = 2)]
    pub workers: u32,
}

/// `[DEFAULT] workers` as a string.
#[config_group(name = "DEFAULT")]
pub struct WorkersAsString {
    /// Number of worker processes.
    #[opt(default = "1")]
    pub workers: String,
}

#[test]
fn b18_an_option_declared_twice_identically_is_one_option() {
    let registry = registry([
        group_spec::<WorkersFromOneModule>(),
        group_spec::<WorkersFromAnotherModule>(),
    ]);
    let declared = registry.options().filter(|o| o.name == "workers").count();
    assert_eq!(declared, 1);

    let loaded = load_sources(&registry, Vec::new()).unwrap();
    assert_eq!(loaded.conf.group::<WorkersFromOneModule>().workers, 1);
    assert_eq!(loaded.conf.group::<WorkersFromAnotherModule>().workers, 1);
}

#[test]
fn b18_an_option_declared_twice_differently_is_an_error_naming_both_places() {
    for (other, differences) in [
        (group_spec::<WorkersWithOtherDefault>(), "default"),
        (group_spec::<WorkersAsString>(), "kind, type"),
    ] {
        let errors = Registry::from_groups([group_spec::<WorkersFromOneModule>(), other])
            .expect_err("conflicting declarations are refused");
        assert_eq!(errors.len(), 1, "{errors:?}");
        let message = errors[0].to_string();
        let expected = "option [DEFAULT] workers: duplicate option: declared differently at ";
        assert!(message.starts_with(expected), "{message}");
        assert_eq!(
            message.matches("config_api/cases.rs:").count(),
            2,
            "both places are named: {message}"
        );
        assert!(
            message.ends_with(&format!("(they differ in: {differences})")),
            "{message}"
        );
    }
}

/// A boolean flag: `--verbose` and `--noverbose`.
#[config_group(name = "DEFAULT")]
pub struct Verbose {
    /// Log more.
    #[opt(default = false, cli)]
    pub verbose: bool,
}

/// An option whose flag is `--noverbose`.
#[config_group(name = "DEFAULT")]
pub struct NoVerbose {
    /// Log less.
    #[opt(default = false, cli)]
    pub noverbose: bool,
}

/// An option that wants the runtime's own `--workers` flag.
#[config_group(name = "DEFAULT")]
pub struct WorkersFlag {
    /// Number of worker processes.
    #[opt(default = 1, cli)]
    pub workers: u32,
}

/// `[probe] x`, a boolean: flags `--probe-x` and `--noprobe-x`.
#[config_group(name = "probe")]
pub struct ProbeSwitch {
    /// A switch.
    #[opt(default = false, cli)]
    pub x: bool,
}

/// `[noprobe] x`: flag `--noprobe-x`.
#[config_group(name = "noprobe")]
pub struct NoProbeValue {
    /// A value.
    #[opt(default = "", cli)]
    pub x: String,
}

#[test]
fn b18_two_options_taking_the_same_flag_are_an_error() {
    let errors = Registry::from_groups([group_spec::<Verbose>(), group_spec::<NoVerbose>()])
        .expect_err("--noverbose is taken twice");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0].to_string();
    assert!(
        message.starts_with(
            "option [DEFAULT] verbose: duplicate command-line flag --noverbose: \
             used by DEFAULT.noverbose ("
        ),
        "{message}"
    );

    let errors = Registry::from_groups([group_spec::<ProbeSwitch>(), group_spec::<NoProbeValue>()])
        .expect_err("--noprobe-x is taken twice");
    assert!(
        errors[0]
            .to_string()
            .contains("duplicate command-line flag --noprobe-x")
    );
}

#[test]
fn b18_an_option_taking_a_runtime_flag_is_an_error() {
    let errors = Registry::from_groups([group_spec::<WorkersFlag>()])
        .expect_err("--workers belongs to the runtime");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0].to_string();
    assert!(
        message.starts_with(
            "option [DEFAULT] workers: duplicate command-line flag --workers: \
             the runtime's own flag"
        ),
        "{message}"
    );
}

/// Hooks, given once per value.
#[config_group(name = "DEFAULT")]
pub struct Hooks {
    /// Number of worker processes.
    #[opt(default = 1)]
    pub workers: u32,

    /// Commands to run, in order.
    #[opt(multi)]
    pub hooks: Vec<String>,
}

#[test]
fn b18_a_key_given_twice_keeps_the_last_value() {
    let files = Files::new();
    let file = files.write(
        "twice.conf",
        "[DEFAULT]\nworkers = 2\nhooks = x\nworkers = 5\n",
    );
    let registry = registry([group_spec::<Hooks>()]);
    let loaded = load_files(&registry, &[&file]).unwrap();
    assert_eq!(loaded.conf.group::<Hooks>().workers, 5);
    let expected = Source::File {
        path: file.clone(),
        line: 4,
    };
    assert_eq!(source(&loaded, "DEFAULT", "workers"), expected);

    // The same file read from a --config-dir: the same rule.
    let in_dir = files.write("d/twice.conf", &std::fs::read_to_string(&file).unwrap());
    let from_dir = load_sources(&registry, vec![SourceArg::Dir(files.path("d"))]).unwrap();
    assert_eq!(from_dir.conf.group::<Hooks>().workers, 5);
    let expected = Source::File {
        path: in_dir,
        line: 4,
    };
    assert_eq!(source(&from_dir, "DEFAULT", "workers"), expected);
}

#[test]
fn b18_a_multi_valued_option_collects_every_value_in_reading_order() {
    let files = Files::new();
    let a = files.write(
        "d/10-a.conf",
        "[DEFAULT]\nhooks = a1\nworkers = 2\nhooks = a2\n",
    );
    let b = files.write("d/20-b.conf", "[DEFAULT]\nhooks = b1\n");
    let registry = registry([group_spec::<Hooks>()]);

    let from_files = load_files(&registry, &[&a, &b]).unwrap();
    assert_eq!(from_files.conf.group::<Hooks>().hooks, ["a1", "a2", "b1"]);

    let dir = SourceArg::Dir(files.path("d"));
    let from_dir = load_sources(&registry, vec![dir]).unwrap();
    assert_eq!(from_dir.conf.group::<Hooks>().hooks, ["a1", "a2", "b1"]);
    assert_eq!(
        value(&from_dir, "DEFAULT", "hooks"),
        json!(["a1", "a2", "b1"])
    );
}

/// A blank value means "not set": the option keeps its default, and what
/// `--print-config` and `ctl config` show is that default, from the line
/// that left it blank.
#[test]
fn a_blank_value_shows_the_default_it_keeps() {
    let files = Files::new();
    let file = files.write("blank.conf", "[DEFAULT]\nfloor =\n");
    let loaded = load_files(&registry([group_spec::<BoundedOpts>()]), &[&file]).unwrap();
    assert_eq!(loaded.conf.group::<BoundedOpts>().floor, 5);
    let shown = loaded.conf.effective_values();
    let floor = shown.iter().find(|v| v.name == "floor").unwrap();
    assert_eq!(floor.value, json!(5));
    assert_eq!(loaded.conf.value("DEFAULT", "floor"), Some(json!(5)));
}
