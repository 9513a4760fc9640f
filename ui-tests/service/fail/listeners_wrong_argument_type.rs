//! `listeners` borrows the configuration: the mismatch is reported at the
//! type the user wrote.
use service_runtime::prelude::*;

#[derive(Default)]
pub struct Api;

#[service(name = "api")]
impl Api {
    fn listeners(_conf: Conf) -> Vec<Listen> {
        vec![Listen::tcp("public", "0.0.0.0", 8080)]
    }
}

fn main() {}
