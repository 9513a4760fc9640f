use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker", name = "other")]
impl Worker {
}

fn main() {}
