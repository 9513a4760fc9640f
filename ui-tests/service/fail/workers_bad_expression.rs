use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker", workers = "4")]
impl Worker {
}

fn main() {}
