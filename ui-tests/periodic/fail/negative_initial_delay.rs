use service_runtime::prelude::*;

#[derive(Default)]
pub struct Reporter;

#[service(name = "reporter")]
impl Reporter {
    #[periodic(spacing = 60, initial_delay = -5)]
    async fn report(&mut self) {}
}

fn main() {}
