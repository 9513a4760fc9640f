use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = "postgres", choices = ["sqlite", "mysql"])]
    pub backend: String,
}

fn main() {}
