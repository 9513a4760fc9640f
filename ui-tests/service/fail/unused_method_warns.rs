//! The expansion calls the hooks and the tasks, nothing else: the user's
//! own `dead_code` lint still reports a method that nothing calls.
#![deny(dead_code)]

use service_runtime::prelude::*;

#[derive(Default)]
pub struct Worker;

#[service(name = "worker")]
impl Worker {
    async fn stop(&mut self, _graceful: bool) {}

    fn helper(&self) {}
}

fn main() {}
