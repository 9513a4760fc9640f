//! Options of the top-level `DEFAULT` group, a raw field name, and the
//! `name` key to use a name that is not a Rust identifier.
use service_runtime::config::ConfigGroup;
use service_runtime::config_group;

#[config_group(name = "DEFAULT")]
pub struct TopOpts {
    #[opt(default = "worker")]
    pub r#type: String,

    #[opt(default = false, name = "verbose_logging")]
    pub verbose: bool,
}

fn main() {
    let names: Vec<&str> = TopOpts::options().iter().map(|o| o.name).collect();
    assert_eq!(names, ["type", "verbose_logging"]);
    assert_eq!(TopOpts::GROUP, "DEFAULT");
}
