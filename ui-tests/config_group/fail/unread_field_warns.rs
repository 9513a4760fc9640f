//! The expansion reads no field: the user's own `dead_code` lint still
//! reports a field that nothing reads.
#![deny(dead_code)]

use service_runtime::config_group;

#[config_group(name = "database")]
struct DatabaseOpts {
    #[opt(default = 10)]
    timeout: u32,
}

fn main() {
    let _ = std::any::type_name::<DatabaseOpts>();
}
