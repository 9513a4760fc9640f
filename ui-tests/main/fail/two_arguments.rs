use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service]
impl Worker {}

service_runtime::main!(Worker, Worker);
