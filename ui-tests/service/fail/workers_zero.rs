use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker", workers = 0)]
impl Worker {
}

fn main() {}
