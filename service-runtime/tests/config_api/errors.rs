//! Every kind of bad input, each reported with where it is and what was
//! expected, all of them in one load; secrets never shown.

use service_runtime::config::{LoadArgs, MASK, SourceArg, group_spec, load};
use service_runtime::config_group;

use super::{Files, load_files, messages, registry, single_message};

/// Options of every shape the errors below need.
#[config_group(name = "db")]
pub struct Database {
    /// Where the database is.
    #[opt(required)]
    pub connection: String,

    /// The database password.
    #[opt(secret)]
    pub password: Option<String>,

    /// Connections kept open.
    #[opt(default = 5, min = 1, max = 100)]
    pub pool_size: u32,

    /// What to do on a lost connection.
    #[opt(default = "retry", choices = ["retry", "fail"])]
    pub on_loss: String,

    /// Seconds to wait for a connection.
    #[opt(default = 10.0)]
    pub timeout: f64,
}

/// Options whose flag may set them.
#[config_group(name = "db_cli")]
pub struct DatabaseFlags {
    /// The database name.
    #[opt(required, cli)]
    pub name: String,
}

/// A required option is not reported missing when a file could not be
/// read: that file may set it.
#[test]
fn every_problem_of_every_file_is_reported_in_one_load() {
    let files = Files::new();
    let broken = files.write("broken.conf", "[db]\npool_size = 5\nnot an assignment\n");
    let bad = files.write(
        "bad.conf",
        "[db]\npool_size = 500\non_loss = panic\ntimeout = soon\npassword = $nothing\n",
    );
    let missing = files.path("missing.conf");
    let registry = registry([group_spec::<Database>()]);
    let found = messages(load_files(&registry, &[&broken, &bad, &missing]));
    let (broken, bad, missing) = (broken.display(), bad.display(), missing.display());
    assert_eq!(
        found,
        [
            format!("{broken}:3: No ':' or '=' found in assignment: \"not an assignment\""),
            format!("config file not found: {missing}"),
            format!(
                "{bad}:5: option [db] password: invalid value \"{MASK}\": cannot resolve \
                 ${{nothing}}: no option `nothing` in group [DEFAULT]"
            ),
            format!(
                "{bad}:2: option [db] pool_size: invalid value \"500\": should be less than \
                 or equal to 100"
            ),
            format!(
                "{bad}:3: option [db] on_loss: invalid value \"panic\": expected one of: \
                 retry, fail"
            ),
            format!(
                "{bad}:4: option [db] timeout: invalid value \"soon\": expected a number, \
                 such as 2.5 or 10"
            ),
        ]
    );
}

#[test]
fn a_missing_required_option_is_an_error_saying_where_to_set_it() {
    let files = Files::new();
    let file = files.write("db.conf", "[db]\npool_size = 5\n");
    let message = single_message(load_files(&registry([group_spec::<Database>()]), &[&file]));
    assert_eq!(
        message,
        "option [db] connection: required option is not set: expected a value in [db] \
         of a configuration file, or with OS_DB__CONNECTION"
    );
}

#[test]
fn a_required_option_names_its_flag_when_it_has_one() {
    let registry = registry([group_spec::<DatabaseFlags>()]);
    let message = single_message(load(&registry, &LoadArgs::default()));
    assert_eq!(
        message,
        "option [db_cli] name: required option is not set: expected a value in [db_cli] \
         of a configuration file, or with OS_DB_CLI__NAME, or with --db_cli-name"
    );
}

#[test]
fn a_required_option_set_empty_is_still_set() {
    let files = Files::new();
    let file = files.write("empty.conf", "[db]\nconnection =\n");
    let loaded = load_files(&registry([group_spec::<Database>()]), &[&file]).unwrap();
    assert_eq!(loaded.conf.group::<Database>().connection, "");
}

#[test]
fn a_bad_secret_value_is_never_shown() {
    let files = Files::new();
    let file = files.write("secret.conf", "[db]\nconnection = x\npassword = hunter2\n");
    let registry = registry([group_spec::<Database>()]);
    let loaded = load_files(&registry, &[&file]).unwrap();

    let shown = loaded.conf.effective_values();
    let password = shown.iter().find(|v| v.name == "password").unwrap();
    assert_eq!(password.value, serde_json::json!(MASK));
    let everything = serde_json::to_string(&shown).unwrap();
    assert!(!everything.contains("hunter2"), "{everything}");
    assert_eq!(
        loaded.conf.group::<Database>().password.as_deref(),
        Some("hunter2")
    );
}

#[test]
fn a_secret_referenced_by_another_option_is_masked_there_too() {
    let files = Files::new();
    let text = "[db]\nconnection = pg://app:${db.password}@db/app\npassword = hunter22\n";
    let file = files.write("secret.conf", text);
    let registry = registry([group_spec::<Database>()]);
    let loaded = load_files(&registry, &[&file]).unwrap();
    assert_eq!(
        loaded.conf.group::<Database>().connection,
        "pg://app:hunter22@db/app"
    );

    let shown = loaded.conf.effective_values();
    let connection = shown.iter().find(|v| v.name == "connection").unwrap();
    assert_eq!(connection.value, serde_json::json!("pg://app:****@db/app"));
    let everything = serde_json::to_string(&shown).unwrap();
    assert!(!everything.contains("hunter22"), "{everything}");

    let changed = files.write("changed.conf", &text.replace("hunter22", "swordfish9"));
    let newer = load_files(&registry, &[&changed]).unwrap();
    let changes = loaded.conf.diff(&newer.conf);
    let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(
        shown
            .iter()
            .all(|line| !line.contains("hunter22") && !line.contains("swordfish9")),
        "{shown:?}"
    );
}

#[test]
fn an_unset_secret_shows_as_unset() {
    let files = Files::new();
    let file = files.write("secret.conf", "[db]\nconnection = x\n");
    let loaded = load_files(&registry([group_spec::<Database>()]), &[&file]).unwrap();
    let shown = loaded.conf.effective_values();
    let password = shown.iter().find(|v| v.name == "password").unwrap();
    assert_eq!(password.value, serde_json::Value::Null);
}

/// A secret with a kind that can refuse a value.
#[config_group(name = "vault")]
pub struct Vault {
    /// The unlock code.
    #[opt(default = 0, secret)]
    pub pin: u32,
}

#[test]
fn a_refused_secret_value_is_masked_in_the_error() {
    let files = Files::new();
    let file = files.write("vault.conf", "[vault]\npin = 12a4\n");
    let message = single_message(load_files(&registry([group_spec::<Vault>()]), &[&file]));
    assert_eq!(
        message,
        format!(
            "{}:2: option [vault] pin: invalid value \"****\": expected an integer, such as \
             42 or -7",
            file.display()
        )
    );
}

#[test]
fn a_file_of_a_directory_that_fails_to_parse_is_named_with_its_line() {
    let files = Files::new();
    let file = files.write("conf.d/syntax.conf", "[db]\nconnection = x\n[broken\n");
    let dir = SourceArg::Dir(files.path("conf.d"));
    let registry = registry([group_spec::<Database>()]);
    let message = single_message(super::load_sources(&registry, vec![dir]));
    assert_eq!(
        message,
        format!(
            "{}:3: Invalid section (must end with ]): \"[broken\"",
            file.display()
        )
    );
}
