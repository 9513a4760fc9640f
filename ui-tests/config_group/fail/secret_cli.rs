use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = "", secret, cli)]
    pub password: String,
}

fn main() {}
