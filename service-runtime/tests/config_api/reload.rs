//! Reloading: every source read again into a validated configuration, the
//! typed difference, and `mutate` applying only mutable options.

use serde_json::json;
use service_runtime::config::{
    LoadArgs, MASK, OptionChange, ReloadMethod, SourceArg, group_spec, load, reload,
};
use service_runtime::config_group;

use super::{Files, registry};

/// Options that may or may not change without a restart.
#[config_group(name = "DEFAULT")]
pub struct Reloadable {
    /// Log at debug level.
    #[opt(default = false, mutable)]
    pub debug: bool,

    /// Seconds between two runs of the poll task.
    #[opt(default = 5, min = 1, mutable)]
    pub poll_spacing: u32,

    /// Number of worker processes.
    #[opt(default = 1, min = 1)]
    pub workers: u32,

    /// The database password.
    #[opt(secret)]
    pub password: Option<String>,
}

struct Setup {
    files: Files,
    registry: std::sync::Arc<service_runtime::config::Registry>,
    args: LoadArgs,
}

impl Setup {
    fn new(text: &str) -> Self {
        let files = Files::new();
        let path = files.write("svc.conf", text);
        let args = LoadArgs {
            sources: vec![
                SourceArg::File(path),
                SourceArg::Dir(files.path("svc.conf.d")),
            ],
            ..LoadArgs::default()
        };
        std::fs::create_dir_all(files.path("svc.conf.d")).unwrap();
        let registry = registry([group_spec::<Reloadable>()]);
        Setup {
            files,
            registry,
            args,
        }
    }

    fn edit(&self, text: &str) {
        self.files.write("svc.conf", text);
    }
}

fn change(
    name: &str,
    old: serde_json::Value,
    new: serde_json::Value,
    mutable: bool,
) -> OptionChange {
    OptionChange {
        group: "DEFAULT".into(),
        name: name.into(),
        old,
        new,
        mutable,
    }
}

#[test]
fn reload_applies_every_change_and_lists_it() {
    let setup = Setup::new("[DEFAULT]\nworkers = 2\n");
    let current = load(&setup.registry, &setup.args).unwrap().conf;
    setup.edit("[DEFAULT]\nworkers = 3\ndebug = true\n");

    let reloaded = reload(&setup.registry, &setup.args, &current, ReloadMethod::Reload).unwrap();
    assert_eq!(reloaded.changed, ["DEFAULT.debug", "DEFAULT.workers"]);
    assert!(reloaded.needs_restart.is_empty());
    assert_eq!(
        reloaded.changes,
        [
            change("debug", json!(false), json!(true), true),
            change("workers", json!(2), json!(3), false),
        ]
    );
    let opts = reloaded.conf.group::<Reloadable>();
    assert_eq!((opts.debug, opts.workers), (true, 3));
    assert_eq!(
        current.group::<Reloadable>().workers,
        2,
        "the old snapshot is untouched"
    );
}

#[test]
fn mutate_changes_only_mutable_options_and_reports_the_others() {
    let setup = Setup::new("[DEFAULT]\nworkers = 2\npoll_spacing = 5\n");
    let current = load(&setup.registry, &setup.args).unwrap().conf;
    setup.edit("[DEFAULT]\nworkers = 4\npoll_spacing = 9\ndebug = on\n");

    let reloaded = reload(&setup.registry, &setup.args, &current, ReloadMethod::Mutate).unwrap();
    assert_eq!(reloaded.changed, ["DEFAULT.debug", "DEFAULT.poll_spacing"]);
    assert_eq!(reloaded.needs_restart, ["DEFAULT.workers"]);
    let opts = reloaded.conf.group::<Reloadable>();
    assert_eq!((opts.debug, opts.poll_spacing, opts.workers), (true, 9, 2));
    assert_eq!(reloaded.conf.value("DEFAULT", "workers"), Some(json!(2)));
}

#[test]
fn the_same_value_written_differently_is_no_change() {
    let setup = Setup::new("[DEFAULT]\nworkers = 3\ndebug = false\n");
    let current = load(&setup.registry, &setup.args).unwrap().conf;
    setup.edit("[DEFAULT]\n\nworkers = 03\ndebug = off\npoll_spacing = 5\n");

    let reloaded = reload(&setup.registry, &setup.args, &current, ReloadMethod::Mutate).unwrap();
    assert!(reloaded.changes.is_empty(), "{:?}", reloaded.changes);
}

#[test]
fn a_file_added_to_the_directory_is_read_on_reload() {
    let setup = Setup::new("[DEFAULT]\nworkers = 2\n");
    let current = load(&setup.registry, &setup.args).unwrap().conf;
    setup
        .files
        .write("svc.conf.d/10-debug.conf", "[DEFAULT]\ndebug = true\n");

    let reloaded = reload(&setup.registry, &setup.args, &current, ReloadMethod::Mutate).unwrap();
    assert_eq!(reloaded.changed, ["DEFAULT.debug"]);
    let files = reloaded.conf.snapshot().files.clone();
    assert_eq!(
        files.last(),
        Some(&setup.files.path("svc.conf.d/10-debug.conf"))
    );
}

#[test]
fn a_bad_reload_reports_every_problem() {
    let setup = Setup::new("[DEFAULT]\nworkers = 2\n");
    let current = load(&setup.registry, &setup.args).unwrap().conf;
    setup.edit("[DEFAULT]\nworkers = 0\npoll_spacing = often\n");

    let errors = reload(&setup.registry, &setup.args, &current, ReloadMethod::Reload)
        .expect_err("the new configuration is refused");
    let found: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].contains("svc.conf:2: option [DEFAULT] workers: invalid value \"0\""),
        "errors come in reading order: {found:#?}"
    );
    assert!(
        found[1].contains("svc.conf:3: option [DEFAULT] poll_spacing: invalid value \"often\""),
        "{found:#?}"
    );
    assert_eq!(current.group::<Reloadable>().workers, 2);
}

#[test]
fn secret_changes_are_masked() {
    let setup = Setup::new("[DEFAULT]\npassword = old-secret\n");
    let current = load(&setup.registry, &setup.args).unwrap().conf;
    setup.edit("[DEFAULT]\npassword = new-secret\n");

    let reloaded = reload(&setup.registry, &setup.args, &current, ReloadMethod::Reload).unwrap();
    assert_eq!(
        reloaded.changes,
        [change("password", json!(MASK), json!(MASK), false)]
    );
    assert_eq!(
        reloaded.changes[0].to_string(),
        "option DEFAULT.password changed from [\"****\"] to [\"****\"]"
    );
    let password = &reloaded.conf.group::<Reloadable>().password;
    assert_eq!(password.as_deref(), Some("new-secret"));
}

#[test]
fn an_option_removed_from_the_file_goes_back_to_its_default() {
    let setup = Setup::new("[DEFAULT]\ndebug = true\n");
    let current = load(&setup.registry, &setup.args).unwrap().conf;
    setup.edit("[DEFAULT]\n");

    let reloaded = reload(&setup.registry, &setup.args, &current, ReloadMethod::Mutate).unwrap();
    assert_eq!(
        reloaded.changes,
        [change("debug", json!(true), json!(false), true)]
    );
    assert!(!reloaded.conf.group::<Reloadable>().debug);
}
