use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker", processes = 4)]
impl Worker {
}

fn main() {}
