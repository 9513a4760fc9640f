use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn start(&mut self) {}
}

fn main() {}
