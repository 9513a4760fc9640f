use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = [1, 2], max = 10)]
    pub retries: Vec<u32>,
}

fn main() {}
