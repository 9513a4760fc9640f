use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = 900, min = 1, max = 600)]
    pub timeout: u32,
}

fn main() {}
