// A misspelled `default` is reported once, as an unknown key, not also as
// a missing default.
use service_runtime::config_group;

#[config_group(name = "database")]
pub struct DatabaseOpts {
    #[opt(defualt = 10)]
    pub timeout: u32,
}

fn main() {}
