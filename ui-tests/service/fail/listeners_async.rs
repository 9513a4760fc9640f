//! `listeners` runs in the main process before any async runtime exists.
use service_runtime::prelude::*;

#[derive(Default)]
pub struct Api;

#[service(name = "api")]
impl Api {
    async fn listeners(_conf: &Conf) -> Vec<Listen> {
        vec![Listen::tcp("public", "0.0.0.0", 8080)]
    }
}

fn main() {}
