use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker {
    shared: std::rc::Rc<u32>,
}

#[service(name = "worker")]
impl Worker {
}

fn main() {}
