use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = "sqlite://")]
    pub connection: Option<String>,
}

fn main() {}
