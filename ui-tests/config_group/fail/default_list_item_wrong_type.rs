use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = ["a", 2])]
    pub hosts: Vec<String>,
}

fn main() {}
