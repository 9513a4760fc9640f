//! `listeners` reads the sockets from the configuration it is given.
use service_runtime::prelude::*;

#[derive(Default)]
pub struct Api;

#[service(name = "api")]
impl Api {
    fn listeners() -> Vec<Listen> {
        vec![Listen::tcp("public", "0.0.0.0", 8080)]
    }
}

fn main() {}
