use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = "sqlite", choices = ["sqlite", "mysql", "sqlite"])]
    pub backend: String,
}

fn main() {}
