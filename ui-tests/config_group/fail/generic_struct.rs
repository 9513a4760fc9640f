use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts<T> {
    #[opt(default = 10)]
    pub timeout: T,
}

fn main() {}
