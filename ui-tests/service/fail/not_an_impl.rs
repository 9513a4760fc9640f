use service_runtime::prelude::*;

#[service(name = "worker")]
pub struct Worker;

fn main() {}
