use service_runtime::config_group;

#[config_group(name = "Database")]
pub struct DatabaseOpts {
    #[opt(default = 10)]
    pub timeout: u32,
}

fn main() {}
