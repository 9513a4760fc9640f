use service_runtime::prelude::*;

pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn new(_conf: &Conf) -> Option<Self> {
        Some(Worker)
    }
}

fn main() {}
