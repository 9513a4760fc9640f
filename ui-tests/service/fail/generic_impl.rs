use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker<T>(T);

#[service(name = "worker")]
impl<T: Default + Send + 'static> Worker<T> {}

fn main() {}
