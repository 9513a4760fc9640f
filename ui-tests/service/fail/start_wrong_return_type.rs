use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn start(&mut self, _ctx: &Context) -> u32 {
        0
    }
}

fn main() {}
