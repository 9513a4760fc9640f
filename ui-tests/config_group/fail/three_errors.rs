use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = 10, maximum = 60)]
    pub timeout: u32,

    #[opt(default = "sqlite://")]
    pub connection: Option<String>,

    #[opt(default = 5, name = "timeout")]
    pub retries: u32,
}

fn main() {}
