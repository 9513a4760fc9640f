//! `main!` writes `fn main`; trybuild runs pass cases, so this one lives in
//! a module and is only checked to exist with the right type.
use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service]
impl Worker {}

mod entry {
    service_runtime::main!(super::Worker,);

    pub(crate) const MAIN: fn() = main;
}

fn main() {
    let _ = entry::MAIN;
}
