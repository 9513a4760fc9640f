use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn reset<C>(&mut self, _conf: C) {}
}

fn main() {}
