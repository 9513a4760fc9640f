//! `listeners` runs before any instance of the service exists.
use service_runtime::prelude::*;

#[derive(Default)]
pub struct Api;

#[service(name = "api")]
impl Api {
    fn listeners(&self, _conf: &Conf) -> Vec<Listen> {
        vec![Listen::tcp("public", "0.0.0.0", 8080)]
    }
}

fn main() {}
