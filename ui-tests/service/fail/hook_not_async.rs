use service_runtime::prelude::*;

pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn new(_conf: &Conf) -> anyhow::Result<Self> {
        Ok(Worker)
    }

    fn start(&mut self, _ctx: &Context) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
