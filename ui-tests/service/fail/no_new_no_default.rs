use service_runtime::prelude::*;

pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn stop(&mut self, _graceful: bool) {}
}

fn main() {}
