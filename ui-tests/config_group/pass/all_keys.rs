//! Every key of `#[opt]`, checked against the option specs the expansion
//! registers.
use service_runtime::config::{ConfigGroup, Kind};
use service_runtime::config_group;

/// Options of a database client.
#[config_group(name = "database")]
pub struct DatabaseOpts {
    /// Where the database is.
    ///
    /// A URL.
    #[opt(default = "sqlite://", secret, mutable = false)]
    pub connection: String,

    /// Seconds to wait for a connection.
    #[opt(default = 10, min = 1, max = 600, mutable, cli)]
    pub timeout: u32,

    /// The backend.
    #[opt(default = "sqlite", choices = ["sqlite", "mysql"])]
    pub backend: String,

    /// Must be set.
    #[opt(required)]
    pub user: String,

    /// Every `host` line.
    #[opt(multi, default = ["a", "b"])]
    pub hosts: Vec<String>,

    /// Renamed in the file.
    #[opt(name = "pool_size", default = 5, deprecated_name = ["pool", "max_pool"])]
    pub pool: u32,

    /// Going away.
    #[opt(
        default = false,
        deprecated_group = "db",
        deprecated_for_removal,
        deprecated_reason = "pooling is automatic"
    )]
    pub legacy_pooling: bool,

    /// Where files go.
    #[opt(default = "/var/lib/db", sample_default = "$state_path/db")]
    pub data_dir: std::path::PathBuf,

    /// Optional.
    pub label: Option<String>,
}

fn main() {
    let options = DatabaseOpts::options();
    let names: Vec<&str> = options.iter().map(|o| o.name).collect();
    assert_eq!(
        names,
        [
            "connection",
            "timeout",
            "backend",
            "user",
            "hosts",
            "pool_size",
            "legacy_pooling",
            "data_dir",
            "label"
        ]
    );
    assert_eq!(DatabaseOpts::GROUP, "database");

    let connection = &options[0];
    assert_eq!(connection.help, "Where the database is.\n\nA URL.");
    assert!(connection.secret && !connection.mutable);
    assert_eq!(connection.default.as_deref(), Some("sqlite://"));
    assert_eq!(connection.kind, Kind::String);

    let timeout = &options[1];
    assert_eq!((timeout.min, timeout.max), (Some(1.0), Some(600.0)));
    assert!(timeout.mutable && timeout.cli);
    assert_eq!(timeout.kind, Kind::Integer);
    assert_eq!(timeout.rust_type, "u32");

    assert_eq!(options[2].choices, Some(&["sqlite", "mysql"][..]));
    assert!(options[3].required && options[3].default.is_none());
    assert!(options[4].multi);
    assert_eq!(options[4].default.as_deref(), Some("a\nb"), "one value per line");
    assert_eq!(options[5].deprecated_names, ["pool", "max_pool"]);
    assert_eq!(options[6].deprecated_groups, ["db"]);
    assert!(options[6].deprecated_for_removal);
    assert_eq!(options[6].deprecated_reason, Some("pooling is automatic"));
    assert_eq!(options[7].sample_default, Some("$state_path/db"));
    assert!(options[8].default.is_none() && !options[8].required);
    assert!(options[1].declared_at.contains("all_keys.rs:"));
}
