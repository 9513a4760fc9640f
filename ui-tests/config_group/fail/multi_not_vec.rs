use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(multi, default = 1)]
    pub port: u16,
}

fn main() {}
