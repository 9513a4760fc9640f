use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

pub trait Named {}

#[service(name = "worker")]
impl Named for Worker {}

fn main() {}
