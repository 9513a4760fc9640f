//! The expansion moves the hooks' and tasks' bodies nowhere: the user's own
//! `unused_variables` lint still points into them.
#![deny(unused_variables)]

use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn start(&mut self, ctx: &Context) {}

    #[periodic(spacing = 10)]
    async fn report(&mut self) {
        let count = 1;
    }
}

fn main() {}
