use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = 2.5)]
    pub timeout: u32,
}

fn main() {}
