//! With an error in the impl block, the type still implements `Service`
//! (with bodies that never run), so `main!` reports nothing more.
use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn start(&mut self) {}
}

mod entry {
    service_runtime::main!(super::Worker);
}

fn main() {}
