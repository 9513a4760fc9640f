use service_runtime::config_group;

#[config_group(name = "DEFAULT")]
pub struct TopOpts {
    #[opt(default = "a.conf")]
    pub config_file: String,
}

fn main() {}
