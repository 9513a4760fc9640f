use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = 10, deprecated_name = "wait")]
    pub timeout: u32,

    #[opt(default = 30, deprecated_name = "wait")]
    pub connect_timeout: u32,
}

fn main() {}
