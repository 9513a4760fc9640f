//! `listeners` returns every socket the service wants, as `Vec<Listen>`.
use service_runtime::prelude::*;

#[derive(Default)]
pub struct Api;

#[service(name = "api")]
impl Api {
    fn listeners(_conf: &Conf) -> Listen {
        Listen::tcp("public", "0.0.0.0", 8080)
    }
}

fn main() {}
