use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default 10)]
    pub timeout: u32,
}

fn main() {}
