//! Three mistakes in one impl block: one build reports all three.
use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker", processes = 4)]
impl Worker {
    fn start(&mut self, _ctx: &Context) {}

    #[periodic(spacing = 10, run_imediately)]
    async fn report(&mut self) {}
}

fn main() {}
