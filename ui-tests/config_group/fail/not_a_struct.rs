use service_runtime::config_group;

#[config_group(name = "database")]
pub enum DatabaseOpts {
    Sqlite,
}

fn main() {}
