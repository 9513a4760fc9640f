use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = "sqlite://", required)]
    pub connection: String,
}

fn main() {}
