//! Deprecated names and groups, section names, references, the
//! environment and flags.

use serde_json::json;
use service_runtime::config::{LoadArgs, Source, group_spec, load};
use service_runtime::config_group;

use super::{Files, load_files, load_sources, registry, single_message, source, value};

/// An option renamed, and one moved from another group.
#[config_group(name = "api")]
pub struct Renamed {
    /// Where the API listens.
    #[opt(default = "0.0.0.0", deprecated_name = "listen_address")]
    pub bind_host: String,

    /// Most requests at once.
    #[opt(default = 10, deprecated_group = "legacy")]
    pub max_requests: u32,

    /// Extra headers, given once each.
    #[opt(multi, deprecated_name = "header")]
    pub headers: Vec<String>,
}

#[test]
fn a_deprecated_name_is_read_with_a_warning_naming_the_new_one() {
    let files = Files::new();
    let file = files.write("old.conf", "[api]\nlisten_address = 10.0.0.1\n");
    let loaded = load_files(&registry([group_spec::<Renamed>()]), &[&file]).unwrap();
    assert_eq!(loaded.conf.group::<Renamed>().bind_host, "10.0.0.1");
    assert_eq!(
        loaded.warnings,
        [format!(
            "{}:2: [api] listen_address is deprecated, use [api] bind_host instead",
            file.display()
        )]
    );
}

#[test]
fn a_deprecated_group_is_read_with_a_warning() {
    let files = Files::new();
    let file = files.write("old.conf", "[legacy]\nmax_requests = 3\n");
    let loaded = load_files(&registry([group_spec::<Renamed>()]), &[&file]).unwrap();
    assert_eq!(loaded.conf.group::<Renamed>().max_requests, 3);
    assert!(
        loaded.warnings[0]
            .ends_with("[legacy] max_requests is deprecated, use [api] max_requests instead")
    );
}

#[test]
fn the_current_name_wins_over_a_deprecated_one_in_the_same_file_wherever_it_stands() {
    let files = Files::new();
    let file = files.write(
        "both.conf",
        "[api]\nbind_host = 10.0.0.1\nlisten_address = 10.0.0.2\n",
    );
    let loaded = load_files(&registry([group_spec::<Renamed>()]), &[&file]).unwrap();
    assert_eq!(loaded.conf.group::<Renamed>().bind_host, "10.0.0.1");
    assert_eq!(
        loaded.warnings,
        [format!(
            "{}:3: [api] listen_address is ignored: it is a deprecated name of [api] \
             bind_host, which this file also sets",
            file.display()
        )]
    );
}

#[test]
fn a_deprecated_name_in_a_later_file_still_wins_over_an_earlier_file() {
    let files = Files::new();
    let first = files.write("1.conf", "[api]\nbind_host = 10.0.0.1\n");
    let second = files.write("2.conf", "[api]\nlisten_address = 10.0.0.2\n");
    let registry = registry([group_spec::<Renamed>()]);
    let loaded = load_files(&registry, &[&first, &second]).unwrap();
    assert_eq!(loaded.conf.group::<Renamed>().bind_host, "10.0.0.2");
}

#[test]
fn a_multi_valued_option_takes_deprecated_values_first_within_a_file() {
    let files = Files::new();
    let file = files.write(
        "h.conf",
        "[api]\nheaders = new1\nheader = old1\nheaders = new2\n",
    );
    let loaded = load_files(&registry([group_spec::<Renamed>()]), &[&file]).unwrap();
    assert_eq!(
        loaded.conf.group::<Renamed>().headers,
        ["old1", "new1", "new2"]
    );
}

/// An option going away.
#[config_group(name = "DEFAULT")]
pub struct Retiring {
    /// Use the old scheduler.
    #[opt(
        default = false,
        deprecated_for_removal,
        deprecated_reason = "use [scheduler] driver instead"
    )]
    pub legacy_scheduler: bool,
}

#[test]
fn setting_an_option_deprecated_for_removal_warns_with_the_replacement() {
    let files = Files::new();
    let registry = registry([group_spec::<Retiring>()]);
    let unset = load_sources(&registry, Vec::new()).unwrap();
    assert!(unset.warnings.is_empty(), "{:?}", unset.warnings);

    let file = files.write("old.conf", "[DEFAULT]\nlegacy_scheduler = true\n");
    let loaded = load_files(&registry, &[&file]).unwrap();
    assert_eq!(
        loaded.warnings,
        [format!(
            "{}:2: option [DEFAULT] legacy_scheduler is deprecated for removal (use \
             [scheduler] driver instead); its value may be ignored in a future release",
            file.display()
        )]
    );

    let args = LoadArgs {
        env: vec![("OS_DEFAULT__LEGACY_SCHEDULER".into(), "1".into())],
        ..LoadArgs::default()
    };
    let from_env = load(&registry, &args).unwrap();
    assert!(from_env.warnings[0].starts_with(
        "environment variable OS_DEFAULT__LEGACY_SCHEDULER: option [DEFAULT] legacy_scheduler"
    ));
}

/// Paths built from one another.
#[config_group(name = "DEFAULT")]
pub struct Paths {
    /// Top directory of the service's state.
    #[opt(default = "/var/lib/svc")]
    pub state_path: String,

    /// Directory of lock files.
    #[opt(default = "$state_path/lock")]
    pub lock_path: String,

    /// Price label, with a literal dollar sign.
    #[opt(default = "$$5")]
    pub price: String,

    /// Where the database lives.
    #[opt(default = "sqlite:///${database.dir}/svc.db")]
    pub connection: String,
}

/// The database group referenced by `Paths`.
#[config_group(name = "database")]
pub struct DatabasePaths {
    /// Directory of the database file.
    #[opt(default = "$state_path/db")]
    pub dir: String,
}

#[test]
fn references_in_defaults_are_substituted() {
    let registry = registry([group_spec::<Paths>(), group_spec::<DatabasePaths>()]);
    let loaded = load_sources(&registry, Vec::new()).unwrap();
    let paths = loaded.conf.group::<Paths>();
    assert_eq!(paths.lock_path, "/var/lib/svc/lock");
    assert_eq!(paths.price, "$5");
    assert_eq!(paths.connection, "sqlite:////var/lib/svc/db/svc.db");
    assert_eq!(loaded.conf.group::<DatabasePaths>().dir, "/var/lib/svc/db");
    assert_eq!(source(&loaded, "DEFAULT", "lock_path"), Source::Default);
    assert_eq!(
        value(&loaded, "DEFAULT", "lock_path"),
        json!("/var/lib/svc/lock")
    );
}

#[test]
fn a_default_follows_the_value_it_references() {
    let files = Files::new();
    let file = files.write("state.conf", "[DEFAULT]\nstate_path = /srv/svc\n");
    let registry = registry([group_spec::<Paths>(), group_spec::<DatabasePaths>()]);
    let loaded = load_files(&registry, &[&file]).unwrap();
    let paths = loaded.conf.group::<Paths>();
    assert_eq!(paths.lock_path, "/srv/svc/lock");
    assert_eq!(paths.connection, "sqlite:////srv/svc/db/svc.db");
}

#[test]
fn references_in_files_use_the_group_then_default() {
    let files = Files::new();
    let file = files.write(
        "refs.conf",
        "[DEFAULT]\nstate_path = /srv\nlock_path = ${database.dir}/locks\n\
         [database]\ndir = $state_path/data\n",
    );
    let registry = registry([group_spec::<Paths>(), group_spec::<DatabasePaths>()]);
    let loaded = load_files(&registry, &[&file]).unwrap();
    assert_eq!(loaded.conf.group::<Paths>().lock_path, "/srv/data/locks");
}

#[test]
fn an_unresolvable_reference_names_the_option_file_and_value() {
    let files = Files::new();
    let file = files.write("refs.conf", "[DEFAULT]\nlock_path = $no_such_option/x\n");
    let registry = registry([group_spec::<Paths>(), group_spec::<DatabasePaths>()]);
    let message = single_message(load_files(&registry, &[&file]));
    assert_eq!(
        message,
        format!(
            "{}:2: option [DEFAULT] lock_path: invalid value \"$no_such_option/x\": \
             cannot resolve ${{no_such_option}}: no option `no_such_option` in group [DEFAULT]",
            file.display()
        )
    );
}

/// Options of a group spelled in several ways in files.
#[config_group(name = "cache")]
pub struct Cache {
    /// Entries kept.
    #[opt(default = 100)]
    pub size: u32,
}

#[test]
fn section_names_are_read_case_insensitively_except_default() {
    let files = Files::new();
    let file = files.write(
        "case.conf",
        "[CACHE]\nsize = 5\n[Cache]\ntypo = 1\n[default]\nx = 1\n",
    );
    let loaded = load_files(&registry([group_spec::<Cache>()]), &[&file]).unwrap();
    assert_eq!(loaded.conf.group::<Cache>().size, 5);
    assert_eq!(
        loaded.warnings,
        [format!(
            "{}:4: [cache] typo is not a known option; ignored",
            file.display()
        )]
    );
}

#[test]
fn unknown_groups_and_unknown_default_keys_are_ignored_silently() {
    let files = Files::new();
    let file = files.write(
        "other.conf",
        "[DEFAULT]\nsomething = 1\n[elsewhere]\nsize = 1\n",
    );
    let loaded = load_files(&registry([group_spec::<Cache>()]), &[&file]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.conf.group::<Cache>().size, 100);
}

#[test]
fn environment_variables_are_named_after_group_and_option() {
    let files = Files::new();
    let file = files.write("cache.conf", "[cache]\nsize = 5\n");
    let args = LoadArgs {
        sources: vec![service_runtime::config::SourceArg::File(file)],
        env: vec![
            ("OS_CACHE__SIZE".into(), "7".into()),
            ("OS_cache__size".into(), "8".into()),
        ],
        ..LoadArgs::default()
    };
    let loaded = load(&registry([group_spec::<Cache>()]), &args).unwrap();
    assert_eq!(loaded.conf.group::<Cache>().size, 7);
    let expected = Source::Env {
        var: "OS_CACHE__SIZE".into(),
    };
    assert_eq!(source(&loaded, "cache", "size"), expected);
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let args = LoadArgs {
        env: vec![("OS_CACHE__SIZE".into(), "big".into())],
        ..LoadArgs::default()
    };
    let message = single_message(load(&registry([group_spec::<Cache>()]), &args));
    assert_eq!(
        message,
        "environment variable OS_CACHE__SIZE: option [cache] size: invalid value \"big\": \
         expected an integer, such as 42 or -7"
    );
}

#[test]
fn a_bad_flag_value_names_the_flag() {
    let args = LoadArgs {
        cli_values: vec![(
            "cache".into(),
            "size".into(),
            "-3".into(),
            "--cache-size".into(),
        )],
        ..LoadArgs::default()
    };
    let message = single_message(load(&registry([group_spec::<Cache>()]), &args));
    assert_eq!(
        message,
        "command-line flag --cache-size: option [cache] size: invalid value \"-3\": \
         expected an integer from 0 to 4294967295"
    );
}
