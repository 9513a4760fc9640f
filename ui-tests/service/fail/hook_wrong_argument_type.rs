use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn stop(&mut self, _graceful: u32) {}
}

fn main() {}
