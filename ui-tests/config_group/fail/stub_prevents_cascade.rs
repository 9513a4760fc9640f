//! With an error in the attribute, the struct still implements
//! `ConfigGroup` (with bodies that never run), so code using it reports
//! nothing more than the attribute's own error.
use service_runtime::config::Conf;
use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(default = 10, minimum = 1)]
    pub timeout: u32,
}

pub fn timeout(conf: &Conf) -> u32 {
    conf.group::<DatabaseOpts>().timeout
}

fn main() {}
