use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker", workers = 2.5)]
impl Worker {
}

fn main() {}
