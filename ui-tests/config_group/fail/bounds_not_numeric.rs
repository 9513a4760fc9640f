use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = "sqlite://", min = 1)]
    pub connection: String,
}

fn main() {}
