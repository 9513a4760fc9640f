use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async unsafe fn stop(&mut self, _graceful: bool) {}
}

fn main() {}
