use service_runtime::prelude::*;

pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn new(_conf: &Conf) -> anyhow::Result<Self> {
        Ok(Worker)
    }

    async fn start(&mut self, _ctx: &Context) -> anyhow::Result<()> {
        Ok(())
    }

    async fn stop(&mut self, _graceful: bool) {}
}

/// `main!` writes a `fn main`; here it lives in a module so that the test
/// binary, which trybuild runs, does not start the service.
#[allow(dead_code)]
mod entry {
    service_runtime::main!(super::Worker);
}

fn main() {
    assert_eq!(<Worker as Service>::NAME, "worker");
}
