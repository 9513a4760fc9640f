use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "my worker")]
impl Worker {
}

fn main() {}
