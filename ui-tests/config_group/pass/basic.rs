use service_runtime::config_group;

/// Options of a database client.
#[config_group(name = "database")]
pub struct DatabaseOpts {
    /// Where the database is.
    #[opt(default = "sqlite://", secret)]
    pub connection: String,

    /// Seconds to wait for a connection.
    #[opt(default = 10, min = 1, max = 600)]
    pub timeout: u32,

    /// An optional name.
    pub name: Option<String>,
}

fn main() {}
