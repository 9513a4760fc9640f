use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = 1, choices = [1, 2])]
    pub level: u32,
}

fn main() {}
