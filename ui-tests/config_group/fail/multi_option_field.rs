use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(multi)]
    pub hosts: Option<Vec<String>>,
}

fn main() {}
