use service_runtime::prelude::*;

pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn new(&self, _conf: &Conf) -> anyhow::Result<Self> {
        Ok(Worker)
    }
}

fn main() {}
